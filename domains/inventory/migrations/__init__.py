"""The inventory domain's own tables, by revision (Alembic branch ``inventory``)."""
