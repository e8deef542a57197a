"""The framework's revisions: saga, journal, inbox and outbox tables (branch ``framework``)."""
