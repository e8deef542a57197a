"""The orders domain's own tables, by revision (Alembic branch ``orders``)."""
