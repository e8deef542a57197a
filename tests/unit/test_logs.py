"""Logs are one line per record; JSON lines for log shippers when asked."""

from __future__ import annotations

import json
import logging

import pytest

from interplay import logs
from interplay.settings import Settings


def test_json_format_writes_one_object_per_record(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", json_format=True)
    try:
        logging.getLogger("interplay.test").warning("stock low for %s", "sku-1")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("interplay.test").exception("step failed")
    finally:
        logs.configure("WARNING")
    lines = capsys.readouterr().err.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "warning"
    assert first["logger"] == "interplay.test"
    assert first["message"] == "stock low for sku-1"
    assert second["message"] == "step failed"
    assert "ValueError: boom" in second["error"]


def test_the_log_format_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPLAY_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("INTERPLAY_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
