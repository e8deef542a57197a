"""Fixtures of the live deploy tests: the interplay command, the local RabbitMQ, the engine."""

from __future__ import annotations

import os

import pytest

from tests.deploy.compose_stack import FIGURES, EngineUnavailable, start_engine
from tests.deploy.deploy_harness import INTERPLAY, run


@pytest.fixture(scope="session")
def interplay_cli() -> str:
    """The project's command; the live tests skip only when it is not installed at all."""
    if not INTERPLAY.exists():
        pytest.skip(
            f"{INTERPLAY} is not installed yet (pip install -e . into the venv); "
            "the live deploy tests run the deploy files' commands with it"
        )
    run(INTERPLAY, "--help")  # installed but broken is a failure, not a skip
    return str(INTERPLAY)


@pytest.fixture(scope="session")
def local_broker() -> None:
    """The local RabbitMQ (127.0.0.1:5672, guest/guest)."""
    run("rabbitmq-diagnostics", "-q", "check_port_connectivity")


@pytest.fixture(scope="session")
def engine() -> str:
    """The project's own Docker engine, started by scripts/install-container-engine.

    In CI (CI=true) an engine that cannot start fails the tests with the reason: the compose
    stack must be proven there. Elsewhere the containers' tests skip, saying why.
    """
    try:
        return start_engine()
    except EngineUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"the container engine cannot start in CI: {error}", pytrace=False)
        pytest.skip(f"no container engine here: {error}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the compose stack and the chart's pods measured, in the CI log."""
    if FIGURES:
        terminalreporter.section("the compose stack and the chart's pods in containers")
        for figure in FIGURES:
            terminalreporter.write_line(figure)
