"""The reference docs in ``docs/reference/``, generated from the code so that they cannot go stale.

One module per page: ``events`` (every contract on the wire, from the domain registry),
``metrics`` (every metric family of ``messaging.metrics.Metrics``) and ``configuration`` (every
field of ``interplay.settings.Settings`` and each domain's options); ``markdown`` holds what they
share.

``interplay docs`` writes them, ``interplay docs --check`` fails when a committed one differs, and
``tests/unit/test_reference_docs.py`` does the same in the test suite.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from domains.registry import DOMAINS
from interplay.docs.reference.configuration import configuration_doc, setting_rows
from interplay.docs.reference.events import events_doc
from interplay.docs.reference.metrics import metric_families, metrics_doc
from messaging.metrics import Metrics

__all__ = ["metric_families", "render_all", "setting_rows", "stale", "write"]


def render_all() -> dict[str, str]:
    """Each reference file's name and its content."""
    return {
        "events.md": events_doc(DOMAINS),
        "metrics.md": metrics_doc(Metrics(CollectorRegistry())),
        "configuration.md": configuration_doc(DOMAINS),
    }


def write(directory: Path) -> list[Path]:
    """Write every reference file into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


def stale(directory: Path) -> list[Path]:
    """The reference files in ``directory`` that differ from what the code generates."""
    return [
        directory / name
        for name, text in render_all().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
