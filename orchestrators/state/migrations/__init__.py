"""Alembic's environment for a domain's database, and the framework's own revisions.

``env.py`` runs on a connection ``orchestrators.state.schema`` hands it; ``versions/`` holds the
framework's tables (branch ``framework``); each domain's own tables are in its
``domains/<name>/migrations/`` (branch ``<name>``).
"""
