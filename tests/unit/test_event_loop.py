"""Which event loop ``interplay run`` makes: asyncio's by default, uvloop when asked for."""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType

import pytest
from typer.testing import CliRunner

from interplay.cli import app
from interplay.event_loop import EventLoopMissing, loop_factory
from interplay.settings import Settings


def test_asyncio_is_the_default_and_uses_asyncios_own_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INTERPLAY_EVENT_LOOP", raising=False)
    assert Settings().event_loop == "asyncio"
    assert loop_factory("asyncio") is None


def test_uvloop_when_the_settings_ask_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")  # a dev dependency: there in CI
    monkeypatch.setenv("INTERPLAY_EVENT_LOOP", "uvloop")
    factory = loop_factory(Settings().event_loop)
    assert factory is not None
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)


def test_an_unknown_loop_is_refused_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPLAY_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        Settings()


def _without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def import_module(name: str, package: str | None = None) -> ModuleType:
        if name == "uvloop":
            raise ImportError("No module named 'uvloop'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)


def test_uvloop_asked_for_but_not_installed_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without_uvloop(monkeypatch)
    with pytest.raises(EventLoopMissing, match=r"pip install 'interplay\[uvloop\]'"):
        loop_factory("uvloop")


def test_interplay_run_stops_at_once_when_its_loop_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without_uvloop(monkeypatch)
    monkeypatch.setenv("INTERPLAY_EVENT_LOOP", "uvloop")
    result = CliRunner().invoke(app, ["run", "notifications"])
    assert result.exit_code == 2
    assert "uvloop is not installed" in " ".join(result.output.split())
