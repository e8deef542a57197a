"""The whole system in the test's own process, for tests that need many short runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from domains.registry import DOMAINS
from interplay.bootstrap import Application, bootstrap, compose
from interplay.settings import Settings
from interplay.supervisor import System
from orchestrators import Pattern


def settings_for(
    amqp_url: str, data_dir: Path, patterns: dict[str, Pattern], **overrides: Any
) -> Settings:
    """Short step timeouts by default, so that the timeout paths end quickly; SQLite files in
    ``data_dir`` unless ``database_url`` says otherwise (``tests.databases``)."""
    settings: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{data_dir}/{{domain}}.sqlite3",
        "step_timeout": 1.0,
        "domains": {"payments": {"hang_seconds": 2.0}},
        "metrics_port": 0,
        **overrides,
    }
    return Settings(
        amqp_url=amqp_url,  # type: ignore[arg-type]
        patterns=patterns,
        **settings,
    )


@asynccontextmanager
async def running_system(
    amqp_url: str,
    data_dir: Path,
    patterns: dict[str, Pattern],
    *,
    prepare: Callable[[Application], None] | None = None,
    only: Sequence[str] = tuple(DOMAINS),
    **overrides: Any,
) -> AsyncIterator[System]:
    """The whole system (or the domains ``only`` names: a second replica of them); ``prepare``
    overrides providers of the composed containers first (a test double for a service:
    ``application.payments.gateway.override(...)``)."""
    settings = settings_for(amqp_url, data_dir, patterns, **overrides)
    application = Application(settings=settings)
    compose(application, settings, list(only))
    if prepare is not None:
        prepare(application)
    system = await bootstrap(settings, list(only), serve_http=False, application=application)
    try:
        yield system
    finally:
        await system.stop()
