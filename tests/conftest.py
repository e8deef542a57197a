"""Shared by every test: the event loop ends clean even after a broker client wedged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.databases import BACKENDS, fresh_databases


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each domain's database, fresh: SQLite files, then PostgreSQL databases of the test's own
    (``INTERPLAY_DATABASE_URL``, ``{domain}`` in it). A test that takes it runs on both."""
    with fresh_databases(request.param, tmp_path) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session", autouse=True)
async def cancel_leftover_tasks() -> AsyncIterator[None]:
    """Cancel what tests left running, repeatedly, before the session's loop closes.

    A robust connection whose recovery wedged (see ``messaging.broker.within``) leaves tasks that
    need more than the one cancellation ``asyncio`` gives each task at loop close; without this
    the loop would wait for them forever.
    """
    yield
    current = asyncio.current_task()
    for _ in range(20):
        left = [task for task in asyncio.all_tasks() if task is not current]
        if not left:
            return
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=0.5)
