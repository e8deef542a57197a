"""The framework's tables in a domain's database, created together."""

from __future__ import annotations

from orchestrators.state import inbox, journal, outbox, saga
from orchestrators.state.database import Database


async def create_framework_tables(database: Database) -> None:
    """Create the saga, journal, inbox and outbox tables that are missing."""
    await database.create(saga.metadata, journal.metadata, inbox.metadata, outbox.metadata)
