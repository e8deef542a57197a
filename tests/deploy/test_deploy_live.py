"""Run what the Helm chart renders: each Deployment started as a process, ready and measured.

Each rendered Deployment is started here as a process with the command and environment its
manifest gives (host names mapped to 127.0.0.1, one metrics port each, a throw-away vhost).
The compose stack is not here: it runs in real containers (test_deploy_stack.py), where its
Prometheus and the dashboard queries are checked too.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_harness import (
    CHART_SCENARIOS,
    DOMAINS,
    dockerfile_entrypoint,
    free_port,
    manifests,
    of_kind,
    render,
    values_file,
    with_image,
)
from tests.deploy.live_harness import (
    DomainProcess,
    Fleet,
    amqp_url,
    http_status,
    http_text,
    image_command,
    localize,
    running,
    throwaway_vhost,
)

pytestmark = pytest.mark.usefixtures("interplay_cli", "local_broker")

CONTRACT_FAMILIES = (
    "interplay_messages_sent_total",
    "interplay_messages_consumed_total",
    "interplay_hop_latency_seconds",
    "interplay_handling_duration_seconds",
    "interplay_rpc_round_trip_seconds",
    "interplay_flow_duration_seconds",
    "interplay_flows_in_flight",
    "interplay_compensations_total",
    "interplay_dead_letters_total",
    "interplay_publish_errors_total",
    "interplay_rpc_replies_unmatched_total",
)


def assert_serves_the_contract_metrics(process: DomainProcess) -> None:
    assert http_status(f"{process.base_url}/healthz") == 200
    assert http_status(f"{process.base_url}/readyz") == 200
    exposition = http_text(f"{process.base_url}/metrics")
    for family in CONTRACT_FAMILIES:
        kind = (
            "counter"
            if family.endswith("_total")
            else ("gauge" if family == "interplay_flows_in_flight" else "histogram")
        )
        base = re.escape(family.removesuffix("_total"))
        assert re.search(rf"^# TYPE {base}(_total)? {kind}$", exposition, re.MULTILINE), (
            process.name,
            family,
        )


# --- Helm ---------------------------------------------------------------------------------

HELM_RUNS = {"defaults": None} | {
    path.stem: path
    for path in CHART_SCENARIOS
    if path.stem in ("split-roles-values", "choreography-values")
}


def scenario_values(scenario: str) -> dict[str, Any]:
    path = HELM_RUNS[scenario]
    return with_image() if path is None else values_file(path)


def environment_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def state_dir(workdir: Path, name: str, environment: dict[str, Any]) -> Path:
    """Where a process keeps its state: its own /data, or, for a database Secret (PostgreSQL in
    production, shared by a domain's pods and its migration Job), one folder for them all."""
    shared = isinstance(environment.get("INTERPLAY_DATABASE_URL"), dict)
    folder = workdir / ("database" if shared else name)
    folder.mkdir(exist_ok=True)
    return folder


def migrate(scenario: str, vhost: str, workdir: Path) -> int:
    """Run the rendered migration Jobs (the pre-install hooks) as processes; how many ran."""
    jobs = of_kind(manifests(render(scenario_values(scenario))), "Job")
    for job in jobs:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        environment = environment_of(container)
        data_dir = state_dir(workdir, job["metadata"]["name"], environment)
        local = localize(environment, amqp=amqp_url(vhost), port=free_port(), data_dir=data_dir)
        command = container.get("command") or dockerfile_entrypoint()
        completed = subprocess.run(
            image_command(command, container["args"]),
            env=local,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
    return len(jobs)


def deployment_processes(scenario: str, vhost: str, workdir: Path) -> list[DomainProcess]:
    deployments = of_kind(manifests(render(scenario_values(scenario))), "Deployment")
    entrypoint = dockerfile_entrypoint()
    processes = []
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        if scenario == "split-roles-values" and "--role" not in container["args"]:
            continue  # the same Deployments as the defaults
        command = container.get("command") or entrypoint
        environment = environment_of(container)
        port = free_port()
        name = deployment["metadata"]["name"]
        processes.append(
            DomainProcess(
                name=name,
                argv=image_command(command, container["args"]),
                environment=localize(
                    environment,
                    amqp=amqp_url(vhost),
                    port=port,
                    data_dir=state_dir(workdir, name, environment),
                ),
                port=port,
                log=workdir / f"{name}.log",
            )
        )
    return processes


@pytest.mark.parametrize("scenario", list(HELM_RUNS))
def test_rendered_deployments_start_and_become_ready(scenario: str, tmp_path: Path) -> None:
    with throwaway_vhost(scenario.removesuffix("-values")) as vhost:
        migrations = migrate(scenario, vhost, tmp_path)
        assert migrations == (len(DOMAINS) if scenario == "split-roles-values" else 0)
        fleet = Fleet(deployment_processes(scenario, vhost, tmp_path))
        assert fleet.processes
        with running(fleet, tmp_path):
            for process in fleet.processes:
                assert_serves_the_contract_metrics(process)
        if scenario == "choreography-values":
            for process in fleet.processes:
                assert any(
                    v == "choreography"
                    for k, v in process.environment.items()
                    if k.endswith("_PATTERN")
                )
        if scenario == "split-roles-values":
            roles = {tuple(p.argv[2:]) for p in fleet.processes}
            assert ("orders", "--role", "order_book") in roles
            assert ("payments", "--role", "gateway") in roles
