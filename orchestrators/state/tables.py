"""The framework's tables in a domain's database, made by the framework's migrations."""

from __future__ import annotations

from orchestrators.state import schema
from orchestrators.state.database import Database


async def create_framework_tables(database: Database) -> None:
    """Make the saga, journal, inbox and outbox tables in a database that has none yet.

    For what reads a database whose domain may never have run (``interplay flows show``) and
    for tests of the framework alone. A database with revisions is left as it is: a process,
    or ``interplay db upgrade``, migrates the framework's tables with the domain's own.
    """
    await schema.upgrade_if_new(database, schema.Migrations(), f"{schema.FRAMEWORK}@head")
