"""State in a domain's own database: the database itself, saga flows, choreography's journal,
the inbox of handled messages and the outbox of events to send."""
