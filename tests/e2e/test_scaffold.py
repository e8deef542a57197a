"""``interplay new-domain`` end to end: billing, generated in a copy of the project, passes the
project's own checks, runs with the other domains and publishes its outcome for an order.

The promise is zero hand edits: in the copy, with billing in it, the whole unit suite and the
end-to-end system test pass as they are. The copy holds the files git does not ignore; every
command runs in it with ``PYTHONPATH`` on it, so the copy's registry (with billing) is the one
that runs, on this checkout's installed dependencies (an install of its own would take minutes).
What the test needs (git, ruff) missing is a skip on a laptop and a failure in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from interplay.load.sample_orders import HAPPY, order
from tests.flows import EventTap
from tests.processes import free_port, http_get, system_env
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NEW_BILLING = ("new-domain", "billing", "--on", "payments.payment.captured")
STEPS = ("--steps", "invoice,send")
GENERATED = ("domains/billing", "tests/unit/domains/test_billing_services.py")


def need(tool: str) -> str:
    """The path of ``tool``; a failure in CI when it is missing, a skip elsewhere."""
    found = shutil.which(tool, path=str(BIN)) or shutil.which(tool)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: CI must check new-domain end to end")
        pytest.skip(f"{tool} is missing")
    return found


def interplay(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run(project, sys.executable, "-c", "from interplay.cli import app; app()", *arguments)


def run(
    project: Path, *command: str | Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(project), "COLUMNS": "200"}
    environment.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [str(part) for part in command],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pytest_in(project: Path, *arguments: str, timeout: float) -> set[str]:
    """Run the copy's own tests, which must pass; the ids of those that passed."""
    report = project / f"report-{len(list(project.glob('report-*.xml')))}.xml"
    ran = run(
        project,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
        *arguments,
        timeout=timeout,
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    cases = ElementTree.parse(report).getroot().iter("testcase")
    passed = {
        f"{case.get('classname')}::{case.get('name')}"
        for case in cases
        if not any(child.tag in ("failure", "error", "skipped") for child in case)
    }
    return passed


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    git, _ = need("git"), need("ruff")
    copy = tmp_path_factory.mktemp("project")
    listing = [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(listing, cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree stays out
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    generated = interplay(copy, *NEW_BILLING, *STEPS)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    return copy


def test_the_domain_is_written_registered_and_deployed(project: Path) -> None:
    for name in ("__init__", "events", "services", "repository", "workflow", "container"):
        assert (project / f"domains/billing/{name}.py").is_file()
    registry = (project / "domains/registry.py").read_text()
    assert "from domains.billing.container import domain as billing" in registry
    compose = (project / "deploy/compose/docker-compose.yml").read_text()
    assert 'command: ["run", "billing"]' in compose
    assert (
        "  billing:\n    enabled: true"
        in (project / "deploy/helm/interplay/values.yaml").read_text()
    )
    definitions = json.loads((project / "deploy/rabbitmq/definitions.json").read_text())
    assert "billing" in {user["name"] for user in definitions["users"]}
    assert "address: billing.invoice.sent" in (project / "docs/asyncapi.yaml").read_text()
    chart_readme = (project / "deploy/helm/interplay/README.md").read_text()
    assert "`domains.billing.enabled`" in chart_readme  # its values table made again
    fresh = run(project, sys.executable, "deploy/helm/chart_readme.py", "--check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_the_whole_unit_suite_passes_with_billing_in_it_unedited(project: Path) -> None:
    passed = pytest_in(project, "tests/unit", timeout=300)

    billing_services = {case for case in passed if "test_billing_services" in case}
    assert len(billing_services) == 5
    billing_workflow = {re.sub(r"\[.*", "", case) for case in passed if "[billing." in case}
    assert billing_workflow == {
        "tests.unit.test_workflows::test_every_workflow_completes_from_each_of_its_triggers",
        "tests.unit.test_workflows::test_every_step_can_fail_and_be_compensated",
    }
    assert any("test_workflows" in case and "[billing]" in case for case in passed)
    assert any("test_reference_docs" in case for case in passed)


def test_the_end_to_end_system_test_passes_in_the_copy_unedited(project: Path) -> None:
    passed = pytest_in(project, "tests/e2e/test_system.py", timeout=600)

    assert any("test_every_flow_produces_exactly_its_events" in case for case in passed)
    assert len(passed) >= 6


def test_the_generated_code_passes_ruff_and_strict_mypy(project: Path) -> None:
    paths = (*GENERATED, "domains/registry.py")
    for check in (["check"], ["format", "--check"]):
        linted = run(project, need("ruff"), *check, *paths)
        assert linted.returncode == 0, linted.stdout + linted.stderr
    typed = run(project, need("mypy"), *paths)
    assert typed.returncode == 0, typed.stdout


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    with fresh_vhost("interplay-scaffold") as url:
        yield url


@pytest.fixture(scope="module", params=["orchestration", "choreography"])
def system(
    project: Path, amqp_url: str, request: pytest.FixtureRequest
) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    data = project / ".interplay" / request.param
    data.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        **system_env(amqp_url, data),
        "INTERPLAY_METRICS_PORT": str(port),
        "PYTHONPATH": str(project),
        "INTERPLAY_BILLING_PATTERN": request.param,
    }
    log = (project / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from interplay.cli import app; app()", "run", "--all"],
        cwd=project,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(process, port, project / "run.log")
        yield process
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"run --all was not ready in 30s: {log.read_text()[-2000:]}")


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    tap = EventTap(amqp_url)
    await tap.start()
    yield tap
    await tap.close()


async def test_an_order_ends_with_billings_outcome_on_the_events_exchange(
    system: subprocess.Popen[bytes], tap: EventTap
) -> None:
    placed = order(HAPPY)
    flow = await tap.place(placed)

    await tap.wait_for({flow: ["payments.payment.captured", "billing.invoice.sent"]}, 20)

    [sent] = [seen for seen in tap.flows[flow] if seen.envelope.type == "billing.invoice.sent"]
    assert sent.envelope.source == "billing"
    assert sent.envelope.correlation_id == flow and sent.envelope.causation_id is not None
    assert sent.body["order_id"] == placed.order_id
    assert sent.body["invoice_reference"].startswith("invoice_")
    assert sent.body["send_reference"].startswith("send_")
