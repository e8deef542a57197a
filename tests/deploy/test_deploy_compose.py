"""The compose stack, checked by docker-compose and the compose-spec schema; its broker users."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_harness import (
    COMPOSE_ENV_EXAMPLE,
    COMPOSE_FILE,
    DEFINITIONS,
    DEPLOY,
    DOMAINS,
    SCHEMAS,
    compose_config,
    compose_env,
    domain_services,
    module,
    run,
    tool,
    variables_missing_from_env_example,
)

RENDER_DEFINITIONS = DEPLOY / "rabbitmq" / "render_definitions.py"


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compose_env(tmp_path_factory.mktemp("compose") / ".env")


@pytest.fixture(scope="module")
def config(env_file: Path) -> dict[str, Any]:
    return compose_config(env_file)


def test_docker_compose_accepts_the_file_with_the_env_compose_env_writes(env_file: Path) -> None:
    run(tool("docker-compose"), "--env-file", env_file, "-f", COMPOSE_FILE, "config", "-q")


def test_without_passwords_compose_refuses_to_start_and_names_the_variable() -> None:
    for env_file in (COMPOSE_ENV_EXAMPLE, None):  # the example as it is, and no .env at all
        args = [tool("docker-compose"), "-f", COMPOSE_FILE, "config", "-q"]
        if env_file is not None:
            args[1:1] = ["--env-file", str(env_file)]
        result = run(*args, check=False, env={"PATH": "/usr/bin:/bin"})
        assert result.returncode != 0
        assert re.search(r"[A-Z_]+_PASSWORD in deploy/compose/.env", result.stderr), result.stderr


def test_docker_compose_rejects_a_broken_file(tmp_path: Path, env_file: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("condition: service_healthy", "condition: when_ready", 1)
    )
    result = run(
        tool("docker-compose"), "--env-file", env_file, "-f", broken, "config", "-q", check=False
    )
    assert result.returncode != 0
    assert "when_ready" in result.stderr


def compose_spec_validator() -> Any:
    jsonschema = module("jsonschema")
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    # The file declares draft 2019-09 (under a URI jsonschema does not recognise).
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def test_compose_file_follows_the_compose_spec_schema() -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in compose_spec_validator().iter_errors(document)
    ]
    assert errors == []


def test_compose_spec_schema_catches_an_unknown_service_key() -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    document["services"]["orders"]["healthcheck_url"] = "/readyz"
    messages = [e.message for e in compose_spec_validator().iter_errors(document)]
    assert any("healthcheck_url" in message for message in messages)


def test_each_domain_runs_as_its_own_service_from_one_image(config: dict[str, Any]) -> None:
    services = domain_services(config)
    assert set(services) == set(DOMAINS)
    assert len({json.dumps(s["build"], sort_keys=True) for s in services.values()}) == 1
    assert len({s["image"] for s in services.values()}) == 1
    for domain, service in services.items():
        assert service["command"] == ["run", domain]
        environment = service["environment"]
        assert environment[f"INTERPLAY_{domain.upper()}_PATTERN"] == "orchestration"
        assert re.fullmatch(
            rf"amqp://{domain}:[0-9a-f]{{36}}@rabbitmq:5672/", environment["INTERPLAY_AMQP_URL"]
        )
        assert (
            environment["INTERPLAY_DATABASE_URL"] == f"sqlite+aiosqlite:////data/{domain}.sqlite3"
        )
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]


def test_every_long_running_service_has_a_healthcheck_and_waits_for_healthy_dependencies(
    config: dict[str, Any],
) -> None:
    for name, service in config["services"].items():
        if name in ("rabbitmq-definitions", "cli"):  # one-shot jobs
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully"
                if dependency == "rabbitmq-definitions"
                else "service_healthy"
            )
            assert condition["condition"] == expected, (name, dependency)
    assert config["services"]["grafana"]["depends_on"] == {
        "prometheus": {"condition": "service_healthy"}
    }


def test_no_password_has_a_default_anywhere() -> None:
    text = COMPOSE_FILE.read_text()
    # Every credential is a required ${VAR:?message}: compose stops and names what is unset.
    urls = re.findall(r"amqp://(\w+):(\$\{[^}]*\})@", text)
    assert len(urls) == len(DOMAINS) + 1 == text.count("amqp://")  # the domains and the operator
    for user, password in urls:
        assert password.startswith(f"${{{user.upper()}_PASSWORD:?"), user
    assert re.findall(r"_PASSWORD:-", text) == []
    example = COMPOSE_ENV_EXAMPLE.read_text()
    assert re.findall(r"^[A-Z_]+_PASSWORD=.+$", example, re.M) == [], "the example sets none"


def test_every_image_and_host_port_is_a_variable_and_every_service_has_a_memory_limit() -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, service in document["services"].items():
        assert re.fullmatch(r"\$\{INTERPLAY_([A-Z]+_)*IMAGE:-[^}]+\}", service["image"]), name
        for mapping in service.get("ports", []):
            assert re.fullmatch(r"127\.0\.0\.1:\$\{INTERPLAY_[A-Z_]+_PORT:-\d+\}:\d+", mapping)
        assert "mem_limit" in service, name
    assert document["services"]["prometheus"]["profiles"] == ["prometheus", "grafana"]
    assert document["services"]["grafana"]["profiles"] == ["grafana"]


def test_env_example_sets_every_variable_the_compose_file_reads() -> None:
    assert variables_missing_from_env_example(COMPOSE_FILE) == set()


def test_tracing_is_off_until_asked_and_its_profile_brings_a_backend(
    config: dict[str, Any],
) -> None:
    for domain, service in domain_services(config).items():
        environment = service["environment"]
        assert environment["OTEL_TRACES_EXPORTER"] == "none", domain
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", domain
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    jaeger = document["services"]["jaeger"]
    assert jaeger["profiles"] == ["tracing"]
    assert jaeger["ports"] == ["127.0.0.1:${INTERPLAY_JAEGER_PORT:-16686}:16686"]  # the UI only
    assert "--enable-feature=exemplar-storage" in document["services"]["prometheus"]["command"]


def test_prometheus_and_grafana_get_the_projects_configuration(config: dict[str, Any]) -> None:
    prometheus = config["services"]["prometheus"]
    assert any(
        v.endswith("/etc/prometheus/prometheus.yml:ro")
        or v.startswith(str(DEPLOY / "prometheus" / "prometheus.yml"))
        for v in prometheus["volumes"]
    )
    grafana_volumes = " ".join(config["services"]["grafana"]["volumes"])
    assert str(DEPLOY / "grafana" / "provisioning") in grafana_volumes
    assert str(DEPLOY / "grafana" / "dashboards") in grafana_volumes
    rabbitmq_volumes = " ".join(config["services"]["rabbitmq"]["volumes"])
    assert str(DEPLOY / "rabbitmq" / "enabled_plugins") in rabbitmq_volumes
    plugins = (DEPLOY / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_prometheus" in plugins and "rabbitmq_management" in plugins
    assert (
        "load_definitions = /etc/rabbitmq/definitions/definitions.json"
        in (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    )


# --- broker definitions: one user per domain, least privilege -----------------------------


def definitions() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITIONS.read_text())
    return loaded


def test_each_domain_has_its_own_user_limited_to_its_own_names() -> None:
    loaded = definitions()
    users = {user["name"]: user for user in loaded["users"]}
    assert set(DOMAINS) <= set(users)
    assert all(user["password_hash"] == "" for user in users.values()), "no password in the repo"
    permissions = {p["user"]: p for p in loaded["permissions"]}
    topics = {p["user"]: p for p in loaded["topic_permissions"]}
    for domain in DOMAINS:
        own = permissions[domain]
        assert own["vhost"] == "/"
        for access in ("configure", "write", "read"):
            allowed = re.compile(own[access])
            assert allowed.search(f"{domain}.inbox") and allowed.search("interplay.events")
            other = next(d for d in DOMAINS if d != domain)
            assert not allowed.search(f"{other}.inbox"), (domain, access)
        assert topics[domain]["exchange"] == "interplay.events"
        assert re.search(topics[domain]["write"], f"{domain}.order.placed")
        other = next(d for d in DOMAINS if d != domain)
        assert not re.search(topics[domain]["write"], f"{other}.payment.captured")


def test_definitions_are_generated_from_the_domain_registry() -> None:
    # Regenerate with: interplay broker definitions --without-passwords --no-storefront \
    #   --operator -o deploy/rabbitmq/definitions.json
    from domains.registry import DOMAINS as REGISTERED
    from interplay.broker.definitions import broker_users
    from interplay.broker.definitions import definitions as generate

    users = broker_users(REGISTERED.values(), storefront=False, operator=True)
    assert definitions() == generate(users, vhost="/", passwords=None)


def test_the_operator_places_orders_and_watches_them_but_declares_no_domain_queue() -> None:
    loaded = definitions()
    (operator,) = [p for p in loaded["permissions"] if p["user"] == "operator"]
    (topic,) = [p for p in loaded["topic_permissions"] if p["user"] == "operator"]
    watch_queue = f"amq_{uuid.uuid4().hex}"  # how aio-pika names a queue declared without one
    for access in ("configure", "write", "read"):
        assert re.search(operator[access], watch_queue), access
        assert not re.search(operator[access], "orders.inbox"), access
        assert not re.search(operator[access], "amq.default"), access
    # It looks the exchanges up and never declares one: configure would let it delete them.
    for exchange in ("interplay.events", "interplay.operations.orders"):
        assert not re.search(operator["configure"], exchange), exchange
        assert re.search(operator["write"], exchange), exchange
    assert re.search(operator["read"], "interplay.events")  # to bind its watch queue
    assert re.search(topic["write"], "orders.order.placed")
    assert not re.search(topic["write"], "payments.payment.captured")
    assert re.search(topic["read"], "#")  # --follow binds every event of the flow


def test_compose_logs_each_domain_in_as_its_own_user(config: dict[str, Any]) -> None:
    users = {user["name"] for user in definitions()["users"]}
    renderer_environment = config["services"]["rabbitmq-definitions"]["environment"]
    for domain, service in domain_services(config).items():
        user, password = re.match(
            r"amqp://(\w+):([^@]+)@", service["environment"]["INTERPLAY_AMQP_URL"]
        ).groups()
        assert user == domain and user in users
        # The broker gets the same password as the domain, from the same variable.
        assert renderer_environment[f"{domain.upper()}_PASSWORD"] == password


def test_rendered_definitions_carry_the_passwords_from_the_environment(tmp_path: Path) -> None:
    target = tmp_path / "out" / "definitions.json"
    environment = {
        f"{user['name'].upper()}_PASSWORD": f"secret-{user['name']}"
        for user in definitions()["users"]
    }
    run(sys.executable, RENDER_DEFINITIONS, DEFINITIONS, target, env=environment)
    rendered = json.loads(target.read_text())
    assert {u["name"]: u["password"] for u in rendered["users"]} == {
        u["name"]: f"secret-{u['name']}" for u in definitions()["users"]
    }
    assert all("password_hash" not in u for u in rendered["users"])
    assert rendered["permissions"] == definitions()["permissions"]


def test_rendering_definitions_without_a_password_names_the_missing_variable(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, str(RENDER_DEFINITIONS), str(DEFINITIONS), str(tmp_path / "d.json")],
        capture_output=True,
        text=True,
        env={"ORDERS_PASSWORD": "x"},
        check=False,
    )
    assert result.returncode == 1
    assert "PAYMENTS_PASSWORD" in result.stderr and "ORDERS_PASSWORD" not in result.stderr
    assert not (tmp_path / "d.json").exists()
