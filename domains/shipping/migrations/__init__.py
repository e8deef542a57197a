"""The shipping domain's own tables, by revision (Alembic branch ``shipping``)."""
