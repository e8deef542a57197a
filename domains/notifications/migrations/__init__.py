"""The notifications domain's own tables, by revision (Alembic branch ``notifications``)."""
