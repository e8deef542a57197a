"""A domain's own database for each test: a fresh SQLite file, as a domain runs by default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrators.state.database import Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'domain.sqlite3'}")
    yield database
    await database.close()
