"""The cluster's compose file (deploy/compose/cluster.yml) keeps the conventions of the single-node
one, checked by docker-compose, the compose-spec schema and promtool; no container is started."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_harness import (
    CLUSTER_FILE,
    DEPLOY,
    DOMAINS,
    compose_env,
    domain_services,
    run,
    tool,
    variables_missing_from_env_example,
)
from tests.deploy.test_deploy_compose import compose_spec_validator

NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
CLUSTER_PROMETHEUS = DEPLOY / "prometheus" / "cluster.yml"


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cluster")
    cookie = folder / "erlang.cookie"
    cookie.write_text(os.urandom(32).hex())
    env = compose_env(folder / ".env")
    with env.open("a") as lines:
        lines.write(f"RABBITMQ_ERLANG_COOKIE_FILE={cookie}\n")
    return env


@pytest.fixture(scope="module")
def config(env_file: Path) -> dict[str, Any]:
    """`docker-compose config` of the cluster file: as the tool resolves it."""
    environ = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME")}
    args = [tool("docker-compose"), "--env-file", env_file, "-f", CLUSTER_FILE, "config"]
    resolved = yaml.safe_load(run(*args, env=environ).stdout)
    assert isinstance(resolved, dict)
    return resolved


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CLUSTER_FILE.read_text())
    return loaded


def test_the_cluster_file_follows_the_compose_spec_schema() -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in compose_spec_validator().iter_errors(document())
    ]
    assert errors == []


def test_without_the_cookie_file_compose_refuses_and_names_the_variable(tmp_path: Path) -> None:
    env = compose_env(tmp_path / ".env")  # passwords, but no RABBITMQ_ERLANG_COOKIE_FILE
    args = [tool("docker-compose"), "--env-file", env, "-f", CLUSTER_FILE, "config", "-q"]
    result = run(*args, check=False, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "RABBITMQ_ERLANG_COOKIE_FILE in deploy/compose/.env" in result.stderr


def test_every_image_and_host_port_is_a_variable_and_every_service_has_a_memory_limit() -> None:
    for name, service in document()["services"].items():
        assert re.fullmatch(r"\$\{INTERPLAY_([A-Z]+_)*IMAGE:-[^}]+\}", service["image"]), name
        for mapping in service.get("ports", []):
            assert re.fullmatch(r"127\.0\.0\.1:\$\{INTERPLAY_[A-Z_]+_PORT:-\d+\}:\d+", mapping)
        assert "mem_limit" in service, name
    text = CLUSTER_FILE.read_text()
    assert re.findall(r"_PASSWORD:-", text) == []
    assert not re.search(r"\b(5672|15672|15692):", text.replace(":5672/", "")), "host port"


def test_env_example_sets_every_variable_the_cluster_file_reads() -> None:
    assert variables_missing_from_env_example(CLUSTER_FILE) == set()


def test_three_nodes_share_the_cookie_secret_and_the_cluster_configuration(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    for node in NODES:
        service = services[node]
        assert service["hostname"] == node  # the node name rabbit@<node> that cluster.conf lists
        assert [secret["source"] for secret in service["secrets"]] == ["erlang-cookie"]
        mounted = (
            " ".join(service["volumes"])
            if isinstance(service["volumes"][0], str)
            else str(service["volumes"])
        )
        assert "cluster.conf" in mounted and "start-cluster-node.sh" in mounted
    cluster_conf = (DEPLOY / "rabbitmq" / "cluster.conf").read_text()
    assert re.findall(r"nodes\.\d+ = rabbit@(\S+)", cluster_conf) == list(NODES)
    assert "cluster_partition_handling = pause_minority" in cluster_conf
    # The second joins the first, the third the second: no two nodes form clusters of their own.
    assert list(services["rabbitmq-2"]["depends_on"]) == ["rabbitmq-1"]
    assert list(services["rabbitmq-3"]["depends_on"]) == ["rabbitmq-2"]


def test_every_domain_runs_two_replicas_through_haproxy_on_postgresql_with_reply_queues(
    config: dict[str, Any],
) -> None:
    services = domain_services(config)
    assert set(services) == set(DOMAINS)
    for domain, service in services.items():
        environment = service["environment"]
        assert service["scale"] == 2, domain
        assert re.fullmatch(
            rf"amqp://{domain}:[0-9a-f]{{36}}@haproxy:5672/", environment["INTERPLAY_AMQP_URL"]
        )
        assert environment["INTERPLAY_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment["INTERPLAY_MIGRATE_ON_START"] == "false"
        assert environment["INTERPLAY_QUEUE_REPLICAS"] == "3"
        assert environment["INTERPLAY_RPC_REPLY_TO"] == "queue"
        assert service["depends_on"]["migrations"]["condition"] == "service_completed_successfully"
    assert config["services"]["migrations"]["command"] == ["db", "upgrade"]
    haproxy = config["services"]["haproxy"]["environment"]
    assert [haproxy[f"INTERPLAY_RABBITMQ_NODE_{n}"] for n in (1, 2, 3)] == [
        f"{node}:5672" for node in NODES
    ]


def test_prometheus_finds_every_replica_by_dns_and_scrapes_every_node() -> None:
    scrape = {
        job["job_name"]: job
        for job in yaml.safe_load(CLUSTER_PROMETHEUS.read_text())["scrape_configs"]
    }
    (replicas,) = scrape["interplay"]["dns_sd_configs"]
    assert sorted(replicas["names"]) == sorted(DOMAINS) and replicas["type"] == "A"
    (nodes,) = scrape["rabbitmq"]["static_configs"]
    assert nodes["targets"] == [f"{node}:15692" for node in NODES]
    assert "haproxy" in scrape
    output = run(tool("promtool"), "check", "config", CLUSTER_PROMETHEUS).stdout
    assert "SUCCESS" in output
