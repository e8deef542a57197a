"""The RabbitMQ layer: connection, topology, envelope, publishing, consuming, RPC, dead letters,
metrics. It knows nothing of domains."""
