"""Run what the Helm chart renders: each Deployment started as a process, ready and measured.

Each rendered Deployment is started here as a process with the command and environment its
manifest gives (host names mapped to 127.0.0.1, one metrics port each, a throw-away vhost).
The compose stack is not here: it runs in real containers (test_deploy_stack.py), where its
Prometheus and the dashboard queries are checked too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.deploy_harness import (
    CHART_SCENARIOS,
    dockerfile_entrypoint,
    free_port,
    manifests,
    of_kind,
    render,
    values_file,
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


def deployment_processes(scenario: str, vhost: str, workdir: Path) -> list[DomainProcess]:
    values = {} if HELM_RUNS[scenario] is None else values_file(HELM_RUNS[scenario])
    deployments = of_kind(manifests(render(values)), "Deployment")
    entrypoint = dockerfile_entrypoint()
    processes = []
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        if scenario == "split-roles-values" and "--role" not in container["args"]:
            continue  # the same Deployments as the defaults
        command = container.get("command") or entrypoint
        environment = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
        port = free_port()
        # Every pod has its own /data; a database Secret (shared PostgreSQL in production)
        # becomes a SQLite file per process here.
        data_dir = workdir / deployment["metadata"]["name"]
        data_dir.mkdir()
        processes.append(
            DomainProcess(
                name=deployment["metadata"]["name"],
                argv=image_command(command, container["args"]),
                environment=localize(
                    environment, amqp=amqp_url(vhost), port=port, data_dir=data_dir
                ),
                port=port,
                log=workdir / f"{deployment['metadata']['name']}.log",
            )
        )
    return processes


@pytest.mark.parametrize("scenario", list(HELM_RUNS))
def test_rendered_deployments_start_and_become_ready(scenario: str, tmp_path: Path) -> None:
    with throwaway_vhost(scenario.removesuffix("-values")) as vhost:
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
