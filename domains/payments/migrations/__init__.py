"""The payments domain's own tables, by revision (Alembic branch ``payments``)."""
