"""The broker as a deployment sees it: least-privilege definitions, and a local broker to start."""
