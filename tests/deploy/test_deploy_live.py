"""Run what the deploy files say and watch it with the project's Prometheus and dashboard.

Each compose domain service and each rendered Deployment is started here as a process with
the command and environment its file gives (host names mapped to 127.0.0.1, one metrics port
each, a throw-away vhost). A real Prometheus, configured from deploy/prometheus/prometheus.yml,
scrapes them while orders flow, and every query of every dashboard panel must return data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_harness import (
    CHART_SCENARIOS,
    DEFINITIONS,
    DEPLOY,
    DOMAINS,
    as_runnable_query,
    compose_config,
    dashboard_queries,
    dockerfile_entrypoint,
    domain_services,
    free_port,
    manifests,
    of_kind,
    render,
    run,
    values_file,
)
from tests.deploy.live_harness import (
    RABBITMQ_METRICS,
    DomainProcess,
    Fleet,
    Prometheus,
    amqp_url,
    has_data,
    http_status,
    http_text,
    image_command,
    local_scrape_config,
    localize,
    prometheus_server,
    rabbitmqctl,
    running,
    throwaway_vhost,
)

pytestmark = pytest.mark.usefixtures("interplay_cli", "local_broker")

ORDERS = 30
DATA_TIMEOUT = 90.0
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


# --- compose ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """deploy/rabbitmq/definitions.json imported into a test vhost, passwords from compose.

    Users are global on a broker, so each gets a unique prefix; permissions and topic
    permissions are the file's, on the test vhost.
    """
    config = compose_config()
    renderer = config["services"]["rabbitmq-definitions"]["environment"]
    workdir = tmp_path_factory.mktemp("definitions")
    rendered_path = workdir / "rendered.json"
    run(
        sys.executable,
        DEPLOY / "rabbitmq" / "render_definitions.py",
        DEFINITIONS,
        rendered_path,
        env={key: str(value) for key, value in renderer.items()},
    )
    rendered = json.loads(rendered_path.read_text())
    prefix = f"deploytest-{uuid.uuid4().hex[:6]}-"
    with throwaway_vhost("users") as vhost:
        names = {u["name"]: prefix + u["name"] for u in rendered["users"] if u["name"] in DOMAINS}
        imported = {
            "vhosts": [{"name": vhost}],
            "users": [
                dict(u, name=names[u["name"]], tags=[])
                for u in rendered["users"]
                if u["name"] in names
            ],
            "permissions": [
                dict(p, user=names[p["user"]], vhost=vhost)
                for p in rendered["permissions"]
                if p["user"] in names
            ],
            "topic_permissions": [
                dict(p, user=names[p["user"]], vhost=vhost)
                for p in rendered["topic_permissions"]
                if p["user"] in names
            ],
        }
        # rabbitmqctl runs as the rabbitmq user, who cannot read pytest's private tmp folders.
        with tempfile.TemporaryDirectory() as shared:
            import_path = Path(shared) / "import.json"
            import_path.write_text(json.dumps(imported))
            os.chmod(shared, 0o755)
            import_path.chmod(0o644)
            rabbitmqctl("import_definitions", str(import_path))
        deadline = time.monotonic() + 20
        while not all(names[d] in rabbitmqctl("list_permissions", "-p", vhost) for d in names):
            assert time.monotonic() < deadline, "definitions were not imported"
            time.sleep(0.3)
        try:
            yield vhost, names
        finally:
            for user in names.values():
                subprocess.run(
                    ["rabbitmqctl", "delete_user", user], capture_output=True, check=False
                )


@pytest.fixture(scope="module")
def compose_fleet(
    domain_users: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """The five compose domain services, each logged in as its own least-privilege user."""
    vhost, users = domain_users
    workdir = tmp_path_factory.mktemp("compose")
    entrypoint = dockerfile_entrypoint()
    fleet = Fleet()
    for name, service in sorted(domain_services(compose_config()).items()):
        user = next(
            u
            for u in users
            if service["environment"]["INTERPLAY_AMQP_URL"].startswith(f"amqp://{u}:")
        )
        password = service["environment"]["INTERPLAY_AMQP_URL"].split(":")[2].split("@")[0]
        port = free_port()
        fleet.processes.append(
            DomainProcess(
                name=name,
                argv=image_command(entrypoint, service["command"]),
                environment=localize(
                    service["environment"],
                    port=port,
                    data_dir=workdir,
                    amqp=amqp_url(vhost, users[user], password),
                ),
                port=port,
                log=workdir / f"{name}.log",
            )
        )
    with running(fleet, workdir):
        yield fleet


def test_compose_domain_services_become_ready_as_their_own_broker_users(
    compose_fleet: Fleet,
) -> None:
    assert [p.name for p in compose_fleet.processes] == sorted(DOMAINS)
    for process in compose_fleet.processes:
        assert process.argv[1:] == ["run", process.name]
        assert_serves_the_contract_metrics(process)


def test_a_domain_user_cannot_publish_another_domains_events(
    domain_users: tuple[str, dict[str, str]], compose_fleet: Fleet
) -> None:
    vhost, users = domain_users
    script = (
        "import asyncio, sys, aio_pika\n"
        "async def main(url, key):\n"
        "    connection = await aio_pika.connect(url)\n"
        "    channel = await connection.channel(publisher_confirms=True)\n"
        "    exchange = await channel.get_exchange('interplay.events', ensure=False)\n"
        "    try:\n"
        "        await exchange.publish(aio_pika.Message(b'{}'), routing_key=key)\n"
        "        print('published')\n"
        "    except Exception as error:\n"
        "        print('refused', type(error).__name__, error)\n"
        "    await connection.close()\n"
        "asyncio.run(main(sys.argv[1], sys.argv[2]))\n"
    )
    url = amqp_url(vhost, users["orders"], "orders-dev-only")
    forged = run(sys.executable, "-c", script, url, "payments.payment.captured").stdout
    assert forged.startswith("refused") and "ACCESS_REFUSED" in forged, forged


# --- Prometheus and the dashboard ---------------------------------------------------------


def order(
    index: int, *, card: str = "tok_visa", sku: str = "SKU-BOOK", country: str = "NL"
) -> dict[str, Any]:
    return {
        "order_id": str(uuid.uuid4()),
        "customer_id": f"c-{index}",
        "email": f"c{index}@example.com",
        "items": [{"sku": sku, "quantity": 1 + index % 3, "unit_price_cents": 1250}],
        "card_token": card,
        "shipping_country": country,
    }


def load() -> list[dict[str, Any]]:
    """About 30 orders: most succeed, some take each failure path the demo offers."""
    failures = [
        order(0, card="tok_timeout"),  # capture hangs: RPC timeout, compensation, late reply
        order(1, card="tok_declined"),  # authorisation refused: the flow fails
        order(2, sku="SKU-SOLD-OUT"),  # no stock: the order is cancelled
        order(3, country="AQ"),  # no courier: shipment fails, payment refunded
    ]
    skus = ("SKU-BOOK", "SKU-MUG", "SKU-LAMP")
    return failures + [order(i, sku=skus[i % 3]) for i in range(4, ORDERS)]


def publish_all(orders: list[dict[str, Any]], url: str, workdir: Path, parallel: int = 6) -> None:
    environment = {
        "INTERPLAY_AMQP_URL": url,
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(workdir),
    }
    for start in range(0, len(orders), parallel):
        batch = [
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "interplay"),
                    "publish",
                    "orders.order.placed",
                    "--data",
                    json.dumps(o),
                ],
                env=environment,
                cwd=workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for o in orders[start : start + parallel]
        ]
        for publisher in batch:
            output, _ = publisher.communicate(timeout=60)
            assert publisher.returncode == 0, output.decode()


def publish_malformed(url: str) -> None:
    """An event no contract accepts: the orders inbox must dead-letter it."""
    script = (
        "import asyncio, sys, aio_pika\n"
        "async def main(url):\n"
        "    connection = await aio_pika.connect(url)\n"
        "    channel = await connection.channel(publisher_confirms=True)\n"
        "    exchange = await channel.get_exchange('interplay.events', ensure=False)\n"
        "    await exchange.publish(aio_pika.Message(b'{\"order_id\": 42}',\n"
        "        content_type='application/json', type='orders.order.placed'),\n"
        "        routing_key='orders.order.placed')\n"
        "    await connection.close()\n"
        "asyncio.run(main(sys.argv[1]))\n"
    )
    run(sys.executable, "-c", script, url)


@pytest.fixture(scope="module")
def scraped_system(
    compose_fleet: Fleet,
    domain_users: tuple[str, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prometheus]:
    """Prometheus scraping the compose fleet and RabbitMQ while the load runs."""
    vhost, _ = domain_users
    workdir = tmp_path_factory.mktemp("prometheus")
    targets = {f"{p.name}:9464": f"127.0.0.1:{p.port}" for p in compose_fleet.processes}
    targets["rabbitmq:15692"] = RABBITMQ_METRICS
    with prometheus_server(local_scrape_config(targets), workdir) as prometheus:
        guest = amqp_url(vhost)
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        publish_all(load(), guest, workdir)
        publish_malformed(guest)
        yield prometheus


def queries_without_data(prometheus: Prometheus, queries: list[tuple[str, str]]) -> list[str]:
    return [
        f"{title}: {expr}"
        for title, expr in queries
        if not has_data(prometheus.query(as_runnable_query(expr)))
    ]


def test_every_dashboard_query_returns_data_from_the_running_system(
    scraped_system: Prometheus,
) -> None:
    pending = list(dashboard_queries())
    deadline = time.monotonic() + DATA_TIMEOUT
    while pending and time.monotonic() < deadline:
        pending = [
            (title, expr)
            for title, expr in pending
            if not has_data(scraped_system.query(as_runnable_query(expr)))
        ]
        if pending:
            time.sleep(2)
    assert pending == [], "panels without data:\n" + "\n".join(f"{t}: {e}" for t, e in pending)


def test_prometheus_scrapes_every_target_and_evaluates_every_alert(
    scraped_system: Prometheus,
) -> None:
    targets = scraped_system.get("/api/v1/targets")["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {"interplay", "rabbitmq", "rabbitmq-per-object"}
    assert all(t["health"] == "up" for t in targets), [
        (t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"
    ]
    rules = [
        rule
        for group in scraped_system.get("/api/v1/rules")["data"]["groups"]
        for rule in group["rules"]
    ]
    assert len(rules) >= 7
    assert all(rule["health"] == "ok" for rule in rules), [
        (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"
    ]


def test_a_misspelled_metric_in_a_query_is_reported_as_without_data(
    scraped_system: Prometheus,
) -> None:
    right = ("Sent", "sum by (domain) (rate(interplay_messages_sent_total[$__rate_interval]))")
    misspelled = ("Sent", "sum by (domain) (rate(interplay_mesages_sent_total[$__rate_interval]))")
    deadline = time.monotonic() + DATA_TIMEOUT
    while queries_without_data(scraped_system, [right]) and time.monotonic() < deadline:
        time.sleep(2)
    assert queries_without_data(scraped_system, [right]) == []
    assert queries_without_data(scraped_system, [misspelled]) == [
        f"{misspelled[0]}: {misspelled[1]}"
    ]


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
