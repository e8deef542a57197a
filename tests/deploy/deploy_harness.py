"""What the deploy tests share: where the artifacts are and how to run the real tools on them.

The tools are installed by scripts/install-deploy-tools.sh; a missing one fails the test with
that hint rather than skipping, because CI must check every artifact.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from domains.registry import DOMAINS as REGISTERED

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "interplay"
CHART_SCENARIOS = sorted((CHART / "ci").glob("*.yaml"))
COMPOSE_FILE = DEPLOY / "compose" / "docker-compose.yml"
CLUSTER_FILE = DEPLOY / "compose" / "cluster.yml"
COMPOSE_ENV_EXAMPLE = DEPLOY / "compose" / ".env.example"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "interplay.json"
DEFINITIONS = DEPLOY / "rabbitmq" / "definitions.json"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
VENV_BIN = Path(sys.executable).parent
INTERPLAY = VENV_BIN / "interplay"
DOMAINS = tuple(REGISTERED)  # from the registry: a domain added by new-domain is deployed too
INSTALL_HINT = "run scripts/install-deploy-tools.sh"


def tool(name: str) -> str:
    """The path of a command-line tool, from the venv or PATH; fails the test when missing."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINT}")
    return found


def run(*args: str | Path, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; on failure the output is in the assertion."""
    completed = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=120, **kwargs
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {completed.returncode}\n"
            f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
        )
    return completed


# --- Helm ---------------------------------------------------------------------------------


def module(name: str) -> Any:
    """An installed Python module; fails the test with the install hint when missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.fail(f"Python module {name} is not installed: {INSTALL_HINT}")


def helm() -> Any:
    """The Helm SDK module (helm-python-sdk)."""
    return module("helm_python")


def values_file(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text()) or {}
    assert isinstance(loaded, dict), f"{path} is not a mapping"
    return loaded


def render(
    values: dict[str, Any] | None = None, chart: Path = CHART, namespace: str = "shop"
) -> dict[str, str]:
    """Render the chart offline with the real Helm engine: template path -> manifest text."""
    with helm().Chart.load(str(chart)) as loaded:
        rendered: dict[str, str] = loaded.render(
            values or {}, name="demo", namespace=namespace, is_install=True
        )
    return rendered


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object in a render (NOTES.txt and empty documents left out)."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


# The chart has no default image (none is published): every render names one.
IMAGE_VALUES: dict[str, Any] = {"image": {"repository": "registry.example.internal/interplay"}}


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, maps merged key by key (as Helm merges values files)."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def with_image(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """Values that name an image, as every install must."""
    return merged(IMAGE_VALUES, values or {})


# Custom resources the chart renders, and the schema (from each operator's CRD) they must pass.
CRD_SCHEMAS = {
    "ServiceMonitor": "servicemonitor-monitoring-v1.json",
    "PrometheusRule": "prometheusrule-monitoring-v1.json",
    "ScaledObject": "scaledobject-keda.sh-v1alpha1.json",
    "TriggerAuthentication": "triggerauthentication-keda.sh-v1alpha1.json",
    "RabbitmqCluster": "rabbitmqcluster-rabbitmq.com-v1beta1.json",
    "User": "user-rabbitmq.com-v1beta1.json",
    "Permission": "permission-rabbitmq.com-v1beta1.json",
    "TopicPermission": "topicpermission-rabbitmq.com-v1beta1.json",
    "Exchange": "exchange-rabbitmq.com-v1beta1.json",
}


def crd_validator(kind: str) -> Any:
    """A JSON-schema validator for a custom resource kind, from tests/deploy/schemas."""
    jsonschema = module("jsonschema")
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[kind]).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def crd_errors(obj: dict[str, Any]) -> list[str]:
    """Where a custom resource breaks its CRD's schema (empty when it passes)."""
    return [
        f"{obj['kind']} {obj['metadata']['name']}: /{'/'.join(map(str, e.absolute_path))}: "
        f"{e.message}"
        for e in crd_validator(obj["kind"]).iter_errors(obj)
    ]


def lint(values: dict[str, Any] | None = None, chart: Path = CHART) -> dict[str, Any]:
    """`helm lint --strict` through the SDK: findings as data (severity 1 info .. 3 error)."""
    report: dict[str, Any] = helm().lint(str(chart), values, strict=True, namespace="shop")
    return report


def lint_problems(report: dict[str, Any]) -> list[str]:
    """Lint warnings and errors (info is advice, e.g. 'icon is recommended')."""
    problems = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]
    return problems + list(report.get("errors") or [])


# --- compose ------------------------------------------------------------------------------


def compose_env(target: Path) -> Path:
    """The .env a user makes with scripts/compose-env: .env.example with random passwords."""
    target.write_text(run(REPO / "scripts" / "compose-env").stdout)
    return target


def compose_config(env_file: Path) -> dict[str, Any]:
    """`docker-compose config`: the compose file as the tool resolves it (variables, anchors)."""
    args: list[str | Path] = [tool("docker-compose"), "--env-file", env_file]
    args += ["-f", COMPOSE_FILE, "config"]
    # Variables of the developer's shell must not leak into what the file says.
    environ = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME")}
    resolved = yaml.safe_load(run(*args, env=environ).stdout)
    assert isinstance(resolved, dict)
    return resolved


def domain_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run a domain (``interplay run``) from deploy/Dockerfile's image."""
    return {
        name: service
        for name, service in config["services"].items()
        if service.get("build", {}).get("dockerfile", "").endswith("deploy/Dockerfile")
        and service.get("command", [""])[0] == "run"
    }


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_entrypoint() -> list[str]:
    """The image's ENTRYPOINT, read with Docker's own parser (the dockerfile package)."""
    dockerfile = module("dockerfile")
    commands = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    entrypoints = [command for command in commands if command.cmd == "ENTRYPOINT"]
    assert entrypoints, "deploy/Dockerfile has no ENTRYPOINT"
    assert entrypoints[-1].json, "ENTRYPOINT must be in exec (JSON) form"
    return list(entrypoints[-1].value)


# --- processes and ports ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel."""
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def as_runnable_query(expr: str) -> str:
    """A dashboard query as Prometheus can run it: Grafana's variables substituted."""
    for variable in ("$namespace", "$domain", "$pattern"):
        expr = expr.replace(variable, ".*")
    return expr.replace("$__rate_interval", "1m")


def variables_missing_from_env_example(compose_file: Path) -> set[str]:
    """The ``${VARIABLES}`` a compose file reads (comments aside) that .env.example does not set."""
    text = "\n".join(
        line for line in compose_file.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    referenced = set(re.findall(r"\$\{([A-Z_]+)(?::[-?][^}]*)?\}", text))
    example = {
        line.split("=", 1)[0]
        for line in COMPOSE_ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    return referenced - example
