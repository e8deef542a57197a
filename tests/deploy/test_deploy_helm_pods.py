"""Every pod the chart renders, run as a container with its security context (no cluster here).

For each scenario that can run on this machine, every StatefulSet and Deployment pod is started
under the project's engine as tests/deploy/helm_pods.py describes; each probe must answer, the
`helm test` pod's order must complete, and the broker must refuse a domain user's and the
operator's forged publish of another domain's event. The scenarios: the defaults, choreography and
monitoring (the bundled broker, SQLite), and the external broker, whose broker is the bundled one
of a default release, its users' URLs in the Secrets the scenario names.

Split roles run on PostgreSQL: a PostgreSQL container built from Debian
(deploy/postgres/start-postgres.sh, one database per domain) stands in for the database the
scenario's Secret names, the migration Jobs run first, then every role's replicas.

What cannot run here: the operator scenario (no RabbitMQ operators without a cluster). Its
resources are checked by rendering, against the operators' CRD schemas (test_deploy_helm*.py).
"""

from __future__ import annotations

import time
from base64 import b64decode
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.types import Mount

from domains.registry import DOMAINS
from tests.deploy.compose_stack import build_images, report
from tests.deploy.deploy_harness import (
    CHART,
    REPO,
    manifests,
    of_kind,
    render,
    values_file,
    with_image,
)
from tests.deploy.helm_pods import Pods, pods_of, until

RUNNABLE = (
    "defaults",
    "choreography-values",
    "monitoring-values",
    "external-broker-values",
    "split-roles-values",
)
START_POSTGRES = REPO / "deploy" / "postgres" / "start-postgres.sh"
READY_TIMEOUT = 180.0
RABBITMQ_TAG = values_file(CHART / "values.yaml")["rabbitmq"]["image"]["tag"]
FORGE = """
import asyncio, os, aio_pika

async def forge() -> None:
    connection = await aio_pika.connect(os.environ["URL"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("interplay.events", ensure=False)
        try:
            await exchange.publish(aio_pika.Message(b"{}"), routing_key="payments.payment.captured")
            print("published")
        except aio_pika.exceptions.AMQPError as error:
            print(type(error).__name__, error)

asyncio.run(forge())
"""


@pytest.fixture(scope="module")
def built(engine: str) -> tuple[docker.DockerClient, dict[str, str]]:
    """The engine's client and the images built here (reused when already built)."""
    images = build_images(engine)
    return docker.DockerClient(base_url=engine), images


def values_of(scenario: str) -> dict[str, Any]:
    if scenario == "defaults":
        return with_image()
    return values_file(CHART / "ci" / f"{scenario}.yaml")


def release(values: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """The rendered objects to run, and stand-ins for the Secrets the release expects to exist.

    In external mode the broker is a default release's bundled broker (its StatefulSet,
    ConfigMap, Services and user Secrets), and each Secret the values name holds its user's URL.
    """
    objects = manifests(render(values))
    if values.get("rabbitmq", {}).get("mode") != "external":
        return objects, {}
    broker = [
        o
        for o in manifests(render(with_image()))
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == "rabbitmq"
    ]
    urls = {
        s["metadata"]["labels"]["interplay.dev/broker-user"]: s["data"]["amqp-url"]
        for s in of_kind(broker, "Secret")
    }
    named = {
        settings["brokerSecret"]: domain
        for domain, settings in values["domains"].items()
        if settings.get("brokerSecret")
    } | {values["rabbitmq"]["external"]["operatorSecret"]: "operator"}
    key = values["rabbitmq"]["external"]["secretKey"]
    stand_ins = {secret: {key: b64decode(urls[user]).decode()} for secret, user in named.items()}
    return objects + broker, stand_ins


def databases(values: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The Secret the values name for PostgreSQL, holding each domain's URL on the stand-in
    server (``postgres``), a database per domain; none when the release keeps SQLite."""
    database = values.get("database", {})
    if not database.get("existingSecret"):
        return {}
    template = database.get("existingSecretKeyTemplate", "{domain}-database-url")
    url = "postgresql+asyncpg://postgres@postgres:5432/{domain}"
    urls = {template.format(domain=d): url.format(domain=d) for d in DOMAINS}
    return {database["existingSecret"]: urls}


def start_postgres(pods: Pods, image: str, names: list[str]) -> None:
    """Debian's PostgreSQL on the release's network as ``postgres``, a database per domain."""
    mount = Mount("/start-postgres.sh", str(START_POSTGRES), type="bind", read_only=True)
    container = pods.run_stand_in(
        "postgres",
        image,
        ["sh", "/start-postgres.sh"],
        {"POSTGRES_DATABASES": " ".join(sorted(names))},
        [mount],
        {},  # its data in the container's own layer: thrown away with it
    )
    probe = ["sh", "-c", 'exec "$(ls /usr/lib/postgresql/*/bin/pg_isready)" -h 127.0.0.1 -q']

    def ready() -> bool:
        container.reload()
        assert container.status == "running", pods.why("postgres")
        return bool(container.exec_run(probe)[0] == 0)

    until(ready, READY_TIMEOUT, lambda: pods.why("postgres"))


def images_of(objects: list[dict[str, Any]], kind: str) -> set[str]:
    return {
        c["image"]
        for workload in of_kind(objects, kind)
        for c in workload["spec"]["template"]["spec"].get("initContainers", [])
        + workload["spec"]["template"]["spec"]["containers"]
    }


@pytest.mark.parametrize("scenario", RUNNABLE)
def test_every_rendered_pod_runs_and_carries_an_order_to_its_end(
    scenario: str, built: tuple[docker.DockerClient, dict[str, str]], tmp_path: Path
) -> None:
    client, images = built
    values = values_of(scenario)
    objects, stand_ins = release(values)
    # No registry here: the images the chart names are the ones built from this repository,
    # and the broker is Debian's RabbitMQ 3.10 (the chart's default is RabbitMQ 4.1).
    interplay = set().union(
        *(images_of(objects, kind) for kind in ("Deployment", "StatefulSet", "Job"))
    )
    mapping = {image: images["INTERPLAY_IMAGE"] for image in interplay}
    mapping[f"rabbitmq:{RABBITMQ_TAG}"] = images["INTERPLAY_RABBITMQ_IMAGE"]
    postgres = databases(values)
    started = time.monotonic()
    with pods_of(client, objects, tmp_path, mapping, stand_ins | postgres) as pods:
        if postgres:
            start_postgres(pods, images["INTERPLAY_POSTGRES_IMAGE"], list(DOMAINS))
            assert pods.run_jobs(timeout=READY_TIMEOUT), "PostgreSQL without its migration Jobs"
        workloads = list(pods.workloads())
        brokers = [
            (pod, t)
            for pod, t in workloads
            if t["metadata"]["labels"].get("app.kubernetes.io/component") == "rabbitmq"
        ]
        domains = [(pod, t) for pod, t in workloads if (pod, t) not in brokers]
        for pod, template in brokers:
            pods.run_pod(pod, template)
            pods.wait_ready(pod, template, READY_TIMEOUT)
        for pod, template in domains:
            pods.run_pod(pod, template)
        for pod, template in domains:
            pods.wait_ready(pod, template, READY_TIMEOUT)
        ready = time.monotonic() - started
        (test_pod,) = of_kind(objects, "Pod")
        code, output = pods.run_to_completion(test_pod, timeout=120)
        assert code == 0, output
        assert "orders.order.completed" in output, output
        notifications = values.get("domains", {}).get("notifications", {}).get("enabled", True)
        assert ("notifications.customer.notified" in output) == notifications, output
        for user in ("orders", "operator"):
            url = pods.secrets[f"demo-interplay-broker-{user}"]["amqp-url"]
            said = pods.run_script(images["INTERPLAY_IMAGE"], FORGE, {"URL": url})
            assert "ACCESS_REFUSED" in said, (user, said)
        total = time.monotonic() - started
        report(
            f"helm {scenario}: {len(workloads)} pods ready {ready:.0f} s after the first started; "
            f"helm test order completed, forged publishes refused; {total:.0f} s in all"
        )
