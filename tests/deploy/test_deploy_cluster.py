"""The clustered compose deployment (deploy/compose/cluster.yml) in real containers, and its faults.

The tests run in file order on one stack: three RabbitMQ nodes form one cluster behind HAProxy,
every domain runs two replicas on PostgreSQL, Prometheus scrapes every node and replica; then
orders flow at a steady rate through a node killed with SIGKILL, a node cut off from the others
for 30 s, and domain replicas killed at random, each fault under its own run, and `down -v`
leaves nothing behind. In CI each fault carries 300 orders (replicas killed under orchestration,
the node faults under choreography); `make cluster-figures` runs 1,000 orders per fault under
both patterns, three times (INTERPLAY_CLUSTER_ORDERS, INTERPLAY_CLUSTER_PATTERNS,
INTERPLAY_CLUSTER_RUNS).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from messaging.topology import reply_queues
from tests.deploy.cluster_faults import (
    NODES,
    ClusterFaultReport,
    replica_ready,
    run_orders_through_a_fault,
    running_nodes,
)
from tests.deploy.compose_stack import Stack, build_images, report
from tests.deploy.deploy_harness import CLUSTER_FILE, DOMAINS, REPO, free_port, run

UP_WITHIN = 600.0  # three nodes boot one after the other, then ten replicas, on 2 busy cores
ORDERS = int(os.environ.get("INTERPLAY_CLUSTER_ORDERS", "300"))
RATE = float(os.environ.get("INTERPLAY_CLUSTER_RATE", "5"))  # orders a second
RUNS = int(os.environ.get("INTERPLAY_CLUSTER_RUNS", "1"))
PATTERNS = os.environ.get("INTERPLAY_CLUSTER_PATTERNS", "").split()
# CI (scripts/test): one run per fault, 300 orders each, the patterns alternating, ordered so
# that the stack switches pattern once; `make cluster-figures` sets the patterns and the runs.
PLAN = (
    [
        (pattern, fault, number)
        for pattern in PATTERNS
        for fault in ("node killed", "node cut off", "replicas killed")
        for number in range(1, RUNS + 1)
    ]
    if PATTERNS
    else [
        ("orchestration", "node killed", 1),
        ("orchestration", "replicas killed", 1),
        ("choreography", "node cut off", 1),
    ]
)
PORTS = (
    "INTERPLAY_AMQP_PORT",
    "INTERPLAY_MANAGEMENT_PORT",
    "INTERPLAY_PROMETHEUS_PORT",
    "INTERPLAY_HAPROXY_STATS_PORT",
)
SERVICES = (*NODES, "haproxy", "postgres", "prometheus")
pytestmark = [pytest.mark.usefixtures("engine"), pytest.mark.cluster_tier]


@pytest.fixture(scope="module")
def cluster(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("cluster")
    stack = Stack(engine, workdir, compose_file=CLUSTER_FILE)
    stack.env_file.write_text(run(REPO / "scripts" / "compose-env").stdout)
    stack.set(**build_images(engine))
    cookie = workdir / "erlang.cookie"
    cookie.write_text(os.urandom(32).hex())
    cookie.chmod(0o644)  # the bind-mounted secret keeps its mode; the nodes' user copies it
    stack.set(RABBITMQ_ERLANG_COOKIE_FILE=str(cookie))
    stack.set(**{name: str(free_port()) for name in PORTS})
    yield stack
    if any(stack.leftovers().values()):  # a test failed before `down -v`
        stack.compose("down", "-v", "--remove-orphans", timeout=600)


def wait_every_replica_healthy(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pending = [c.name for d in DOMAINS for c in stack.replicas(d) if not replica_ready(c)]
        if not pending:
            return
        assert time.monotonic() < deadline, f"not ready within {timeout:.0f} s: {pending}"
        time.sleep(1)


def test_three_nodes_form_one_cluster_and_every_domain_runs_two_replicas(cluster: Stack) -> None:
    started = time.monotonic()
    cluster.compose("up", "-d", timeout=UP_WITHIN)
    cluster.wait_healthy(SERVICES, UP_WITHIN)
    wait_every_replica_healthy(cluster, UP_WITHIN - (time.monotonic() - started))
    report(f"cluster: every service healthy {time.monotonic() - started:.0f} s after `up -d`")
    for node in NODES:
        assert sorted(running_nodes(cluster, node)) == [f"rabbit@{n}" for n in NODES], node
    assert {d: len(cluster.replicas(d)) for d in DOMAINS} == dict.fromkeys(DOMAINS, 2)
    migrations = cluster.container("migrations")
    assert migrations.attrs["State"]["ExitCode"] == 0, migrations.logs()


def test_every_queue_is_a_quorum_queue_with_a_member_on_each_node_but_the_reply_queues(
    cluster: Stack,
) -> None:
    listed = cluster.container("rabbitmq-1").exec_run(
        ["rabbitmqctl", "-q", "list_queues", "name", "type", "members", "--formatter", "json"]
    )
    assert listed.exit_code == 0, listed.output
    listed_queues = json.loads(listed.output)
    private = tuple(f"{reply_queues(domain)}." for domain in DOMAINS)
    replies = [q for q in listed_queues if q["name"].startswith(private)]
    queues = [q for q in listed_queues if not q["name"].startswith(private)]
    assert len(queues) >= 3 * len(DOMAINS)
    wrong = [q for q in queues if q["type"] != "quorum" or len(q["members"]) != len(NODES)]
    assert wrong == []
    # Each orchestrator's own (INTERPLAY_RPC_REPLY_TO=queue): classic, gone with its connection.
    assert replies and all(q["type"] == "classic" for q in replies)


def prometheus_targets(stack: Stack) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{stack.variables()['INTERPLAY_PROMETHEUS_PORT']}/api/v1/targets"
    with urllib.request.urlopen(url, timeout=5) as response:
        targets: list[dict[str, Any]] = json.load(response)["data"]["activeTargets"]
    return targets


def test_prometheus_scrapes_every_node_haproxy_and_every_replica(cluster: Stack) -> None:
    expected = {"interplay": 2 * len(DOMAINS), "rabbitmq": 3, "rabbitmq-per-object": 3}
    expected["haproxy"] = 1
    deadline = time.monotonic() + 60
    while True:
        targets = prometheus_targets(cluster)
        up: dict[str, int] = {}
        for target in targets:
            if target["health"] == "up":
                up[target["labels"]["job"]] = up.get(target["labels"]["job"], 0) + 1
        if up == expected or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert up == expected, [(t["scrapeUrl"], t["lastError"]) for t in targets]
    scraped = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "interplay"}
    addresses = {
        f"{network['IPAddress']}:9464"
        for domain in DOMAINS
        for replica in cluster.replicas(domain)
        for network in replica.attrs["NetworkSettings"]["Networks"].values()
    }
    assert scraped == addresses  # each replica by its own address, found by DNS


def switch_pattern(stack: Stack, pattern: str) -> None:
    """Every domain to ``pattern`` by its compose variable; the replicas are made anew."""
    if stack.variables().get("ORDERS_PATTERN", "orchestration") == pattern:
        return  # the compose file's default is orchestration
    stack.set(**{f"{domain.upper()}_PATTERN": pattern for domain in DOMAINS})
    stack.compose("up", "-d", *DOMAINS, timeout=UP_WITHIN)
    wait_every_replica_healthy(stack, UP_WITHIN)
    for domain in DOMAINS:
        for replica in stack.replicas(domain):
            assert f"INTERPLAY_{domain.upper()}_PATTERN={pattern}" in replica.attrs["Config"]["Env"]


FIGURES: list[ClusterFaultReport] = []


@pytest.mark.parametrize(("pattern", "fault", "number"), PLAN, ids=lambda value: str(value))
def test_orders_lose_nothing_and_apply_nothing_twice_through_the_fault(
    cluster: Stack, pattern: str, fault: str, number: int
) -> None:
    switch_pattern(cluster, pattern)
    faulted = asyncio.run(run_orders_through_a_fault(cluster, fault, pattern, ORDERS, RATE))
    FIGURES.append(faulted)
    report(faulted.line())
    assert faulted.lost == [] and faulted.doubled == [], faulted.line()
    assert faulted.not_terminal == [], faulted.line()
    assert "NOT paused" not in " ".join(faulted.events), faulted.line()
    write_figures(Path(os.environ.get("INTERPLAY_CLUSTER_FIGURES", "")))


def write_figures(target: Path) -> None:
    """The runs so far as JSON lines, for docs/reliability.md (make cluster-figures)."""
    if target.name:
        target.write_text("".join(json.dumps(vars(r), default=str) + "\n" for r in FIGURES))


def test_down_v_leaves_no_container_network_or_volume(cluster: Stack) -> None:
    cluster.compose("down", "-v", timeout=600)
    assert cluster.leftovers() == {"containers": [], "networks": [], "volumes": []}
