"""The command line reference is generated from the commands, so it cannot go stale."""

from __future__ import annotations

from pathlib import Path

from interplay.cli import app
from interplay.docs.cli_reference import cli_reference

COMMANDS = ("run", "publish", "new-domain", "load", "asyncapi", "cli-reference", "broker ensure")
COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"


def test_the_committed_reference_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == cli_reference(app), "stale: run `interplay cli-reference`"


def test_every_command_has_a_section_with_its_usage() -> None:
    reference = cli_reference(app)

    for command in COMMANDS:
        assert f"## interplay {command}\n" in reference
        assert f"\ninterplay {command} [OPTIONS]" in reference
