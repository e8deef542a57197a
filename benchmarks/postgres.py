"""PostgreSQL databases of a benchmark's own on the local server, one per domain, dropped after.

Administered with ``psql`` (the server's client, on ``PATH`` wherever the server runs) where the
tests' helper uses asyncpg, which has no type information for strict mypy over ``benchmarks``.
Like the broker, the server must be on this machine, where its processes' CPU can be read.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from yarl import URL

from benchmarks.vhost import LOOPBACK

ADMIN_URL = os.environ.get(
    "INTERPLAY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def fresh_databases(domains: Sequence[str], prefix: str = "interplay_cap") -> Iterator[str]:
    """Yields the ``INTERPLAY_DATABASE_URL`` (``{domain}`` in it) of new databases, one per
    domain, named ``<prefix>_<random>_<domain>``; they are dropped at the end."""
    admin = URL(ADMIN_URL)
    if admin.host not in LOOPBACK:
        raise RuntimeError(f"benchmarks run against a local PostgreSQL only, not {admin.host}")
    stem = f"{prefix}_{uuid.uuid4().hex[:8]}"
    names = [f"{stem}_{domain}" for domain in domains]
    for name in names:
        _psql(f'CREATE DATABASE "{name}"')
    try:
        yield str(admin.with_scheme("postgresql+asyncpg").with_path(f"/{stem}_")) + "{domain}"
    finally:
        for name in names:
            _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_stem(database_url: str) -> str:
    """The part of the databases' names they all share, which their backends' titles show."""
    return URL(database_url.replace("{domain}", "")).path.lstrip("/")


def transactions(stem: str) -> int:
    """Transactions committed or rolled back so far in the databases named ``stem...``, as the
    server's statistics say (they lag by up to a second: read them after a quiet second)."""
    return int(
        _psql(
            "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database"
            f" WHERE datname LIKE '{stem}%'"
        )
    )


def _psql(statement: str) -> str:
    return subprocess.run(
        ["psql", ADMIN_URL, "-qAt", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-c", statement],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
