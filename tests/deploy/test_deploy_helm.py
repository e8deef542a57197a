"""The Helm chart: rendered and linted by the Helm SDK, validated against Kubernetes schemas."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_harness import (
    CHART,
    CHART_SCENARIOS,
    DASHBOARD,
    DOMAINS,
    SCHEMAS,
    helm,
    lint,
    lint_problems,
    manifests,
    module,
    of_kind,
    render,
    run,
    tool,
    values_file,
)

SCENARIOS = {"defaults": None} | {path.stem: path for path in CHART_SCENARIOS}
BUILT_IN_KINDS = {
    "ConfigMap",
    "Deployment",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "ServiceAccount",
    "StatefulSet",
}
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")


def scenario_values(name: str) -> dict[str, Any]:
    path = SCENARIOS[name]
    return {} if path is None else values_file(path)


@pytest.fixture(scope="module")
def rendered_scenarios() -> dict[str, list[dict[str, Any]]]:
    return {name: manifests(render(scenario_values(name))) for name in SCENARIOS}


def test_every_ci_scenario_is_covered() -> None:
    assert {
        "choreography-values",
        "split-roles-values",
        "external-broker-values",
        "monitoring-values",
    } <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_chart_lints_without_warnings_or_errors(scenario: str) -> None:
    report = lint(scenario_values(scenario))
    assert report["total_charts_linted"] == 1
    assert lint_problems(report) == []


def test_every_rendered_manifest_passes_strict_kubernetes_validation(
    rendered_scenarios: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    files = []
    for scenario, objects in rendered_scenarios.items():
        for index, obj in enumerate(objects):
            path = tmp_path / f"{scenario}-{index:02d}-{obj['kind']}.yaml"
            path.write_text(yaml.safe_dump(obj))
            files.append(path)
    result = run(
        tool("kubernetes-validate"),
        "--strict",
        "--quiet",
        *(arg for v in KUBERNETES_VERSIONS for arg in ("-k", v)),
        *files,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Unknown kinds only WARN; only the prometheus-operator kind may be unknown to it.
    warned = [line for line in output.splitlines() if line.startswith("WARN")]
    assert all("kind ServiceMonitor" in line for line in warned), warned
    kinds = {obj["kind"] for objects in rendered_scenarios.values() for obj in objects}
    assert kinds - {"ServiceMonitor"} <= BUILT_IN_KINDS, kinds


def test_strict_validation_catches_a_misspelled_field(tmp_path: Path) -> None:
    deployment = of_kind(manifests(render()), "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = run(
        tool("kubernetes-validate"),
        "--strict",
        *(arg for v in KUBERNETES_VERSIONS for arg in ("-k", v)),
        path,
        check=False,
    )
    assert result.returncode != 0
    assert "livenessProbes" in result.stdout


def servicemonitor_validator() -> Any:
    jsonschema = module("jsonschema")
    schema = json.loads((SCHEMAS / "servicemonitor-monitoring-v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_service_monitor_matches_the_prometheus_operator_crd() -> None:
    objects = manifests(render(scenario_values("monitoring-values")))
    (monitor,) = of_kind(objects, "ServiceMonitor")
    errors = [error.message for error in servicemonitor_validator().iter_errors(monitor)]
    assert errors == []
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    paths = {(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]}
    assert paths == {
        ("metrics", "/metrics"),
        ("prometheus", "/metrics"),
        ("prometheus", "/metrics/per-object"),
    }
    # Every endpoint port is a named port of a Service the selector picks.
    services = [
        s
        for s in of_kind(objects, "Service")
        if s["spec"].get("clusterIP") != "None"
        and all(
            s["metadata"]["labels"].get(k) == v
            for k, v in monitor["spec"]["selector"]["matchLabels"].items()
        )
    ]
    service_ports = {port["name"] for s in services for port in s["spec"]["ports"]}
    assert {"metrics", "prometheus"} <= service_ports


def test_crd_schema_rejects_a_service_monitor_the_operator_would_refuse() -> None:
    (monitor,) = of_kind(manifests(render(scenario_values("monitoring-values"))), "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scheme"] = "tcp"
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    messages = " ".join(e.message for e in servicemonitor_validator().iter_errors(monitor))
    assert "'tcp' is not one of" in messages
    assert "intervall" in messages


def test_no_secret_has_a_default_value() -> None:
    first = manifests(render())
    second = manifests(render())
    (secret,) = of_kind(first, "Secret")
    (again,) = of_kind(second, "Secret")
    # The bundled broker's password is generated per install, never a chart default.
    assert secret["data"]["rabbitmq-password"] != again["data"]["rabbitmq-password"]

    def credentials(node: Any, path: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            found: dict[str, Any] = {}
            for key, value in node.items():
                found |= credentials(value, f"{path}.{key}")
            return found
        return {path: node} if path.rsplit(".", 1)[-1] in ("password", "token", "url") else {}

    assert credentials(values_file(CHART / "values.yaml")) == {
        ".broker.url": "",
        ".rabbitmq.auth.password": "",
    }


def deployments_by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def test_defaults_run_each_domain_in_its_own_deployment_with_the_bundled_broker() -> None:
    objects = manifests(render())
    deployments = deployments_by_name(objects)
    assert set(deployments) == {f"demo-interplay-{domain}" for domain in DOMAINS}
    for domain in DOMAINS:
        deployment = deployments[f"demo-interplay-{domain}"]
        assert container(deployment)["args"] == ["run", domain]
        env = env_of(deployment)
        assert env[f"INTERPLAY_{domain.upper()}_PATTERN"] == "orchestration"
        assert env["INTERPLAY_AMQP_URL"] == {
            "secretKeyRef": {"name": "demo-interplay-broker", "key": "amqp-url"}
        }
        assert env["INTERPLAY_DATABASE_URL"] == f"sqlite+aiosqlite:////data/{domain}.sqlite3"
    (statefulset,) = of_kind(objects, "StatefulSet")
    assert statefulset["metadata"]["name"] == "demo-interplay-rabbitmq"
    (secret,) = of_kind(objects, "Secret")
    import base64

    url = base64.b64decode(secret["data"]["amqp-url"]).decode()
    assert re.fullmatch(r"amqp://interplay:[A-Za-z0-9]{32}@demo-interplay-rabbitmq:5672/", url)
    assert not of_kind(objects, "ServiceMonitor")
    assert not of_kind(objects, "ConfigMap") or all(
        "grafana_dashboard" not in c["metadata"]["labels"] for c in of_kind(objects, "ConfigMap")
    )


def test_every_domain_pod_is_locked_down() -> None:
    for deployment in of_kind(manifests(render()), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        security = container(deployment)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/data"]]
        probes = container(deployment)
        assert probes["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert probes["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in probes["ports"]


def test_each_domain_has_a_metrics_service_and_each_role_a_disruption_budget() -> None:
    objects = manifests(render(scenario_values("split-roles-values")))
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    budgets = {p["metadata"]["name"]: p for p in of_kind(objects, "PodDisruptionBudget")}
    deployments = deployments_by_name(objects)
    for domain in DOMAINS:
        service = services[f"demo-interplay-{domain}"]
        assert service["spec"]["ports"] == [
            {"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"}
        ]
    assert set(budgets) == set(deployments)
    for name, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        domain = pod_labels["app.kubernetes.io/component"]
        service_selector = services[f"demo-interplay-{domain}"]["spec"]["selector"]
        assert service_selector.items() <= pod_labels.items()


def test_split_roles_become_one_deployment_per_role() -> None:
    deployments = deployments_by_name(manifests(render(scenario_values("split-roles-values"))))
    orchestrator = deployments["demo-interplay-payments-orchestrator"]
    gateway = deployments["demo-interplay-payments-gateway"]
    assert "demo-interplay-payments" not in deployments
    assert container(orchestrator)["args"] == ["run", "payments", "--role", "orchestrator"]
    assert container(gateway)["args"] == ["run", "payments", "--role", "gateway"]
    assert gateway["spec"]["replicas"] == 2
    order_book = deployments["demo-interplay-orders-order-book"]
    assert container(order_book)["args"] == ["run", "orders", "--role", "order_book"]
    assert (
        order_book["spec"]["template"]["metadata"]["labels"]["interplay.dev/role"] == "order_book"
    )
    assert env_of(gateway)["INTERPLAY_DATABASE_URL"] == {
        "secretKeyRef": {"name": "interplay-databases", "key": "payments-database-url"}
    }


def test_choreography_scenario_sets_every_domain_pattern() -> None:
    for deployment in of_kind(
        manifests(render(scenario_values("choreography-values"))), "Deployment"
    ):
        domain = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        assert env_of(deployment)[f"INTERPLAY_{domain.upper()}_PATTERN"] == "choreography"


def test_a_domain_pattern_overrides_the_top_level_pattern() -> None:
    values = {"pattern": "choreography", "domains": {"payments": {"pattern": "orchestration"}}}
    for deployment in of_kind(manifests(render(values)), "Deployment"):
        domain = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        expected = "orchestration" if domain == "payments" else "choreography"
        assert env_of(deployment)[f"INTERPLAY_{domain.upper()}_PATTERN"] == expected


def test_external_broker_scenario_reads_each_domain_url_from_its_own_secret() -> None:
    objects = manifests(render(scenario_values("external-broker-values")))
    assert not of_kind(objects, "StatefulSet")
    assert not of_kind(objects, "Secret"), "the chart must not make a Secret for an external broker"
    deployments = deployments_by_name(objects)
    assert "demo-interplay-notifications" not in deployments
    for domain in ("orders", "payments", "inventory", "shipping"):
        assert env_of(deployments[f"demo-interplay-{domain}"])["INTERPLAY_AMQP_URL"] == {
            "secretKeyRef": {"name": f"interplay-{domain}-broker", "key": "amqp-url"}
        }
        image = container(deployments[f"demo-interplay-{domain}"])["image"]
        assert image == "registry.example.internal/interplay:0.1.0"


def test_dashboard_config_map_carries_the_grafana_dashboard() -> None:
    objects = manifests(render(scenario_values("monitoring-values")))
    (config_map,) = [
        c
        for c in of_kind(objects, "ConfigMap")
        if c["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert json.loads(config_map["data"]["interplay.json"]) == json.loads(DASHBOARD.read_text())
    assert config_map["metadata"]["annotations"]["grafana_folder"] == "interplay"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"pattern": "saga"}, "/pattern"),
        ({"domains": {"orders": {"pattern": "event-sourcing"}}}, "/domains/orders/pattern"),
        ({"domains": {"orders": {"replicas": "two"}}}, "/domains/orders/replicas"),
        ({"domains": {"orders": {"roles": []}}}, "/domains/orders/roles"),
        ({"domains": {"orders": {"role": ["all"]}}}, "/domains/orders"),
        ({"metrics": {"port": 80}}, "/metrics/port"),
        ({"broker": {"url": "http://rabbitmq:5672"}}, "/broker/url"),
        ({"replicaCount": 3}, "additional properties 'replicaCount'"),
    ],
)
def test_schema_rejects_values_that_cannot_work(values: dict[str, Any], expected: str) -> None:
    with pytest.raises(helm().HelmValuesError) as raised:
        render(values)
    assert expected in str(raised.value)


def test_schema_violating_values_file_fails_lint(tmp_path: Path) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text("domains:\n  payments:\n    replicas: -1\n")
    report = lint(values_file(bad))
    assert any("/domains/payments/replicas" in problem for problem in lint_problems(report))


@pytest.mark.parametrize(
    ("values", "fix"),
    [
        (
            {"broker": {"existingSecret": "interplay-broker"}},
            "use --set rabbitmq.enabled=false to connect to the broker in broker.existingSecret",
        ),
        (
            {"rabbitmq": {"enabled": False}},
            "domain orders has no broker: create a Secret with key amqp-url",
        ),
        (
            {
                "rabbitmq": {"enabled": False},
                "broker": {"url": "amqp://u:p@mq:5672/", "existingSecret": "s"},
            },
            "keep broker.existingSecret (the URL stays out of your values) and unset broker.url",
        ),
        (
            {"domains": {"orders": {"roles": ["all", "orchestrator"]}}},
            "domains.orders.roles lists all next to orchestrator",
        ),
        (
            {"domains": {"orders": {"pattern": "choreography", "roles": ["orchestrator"]}}},
            "remove orchestrator from domains.orders.roles, or set domains.orders.pattern",
        ),
        ({"domains": {d: {"enabled": False} for d in DOMAINS}}, "no domain is enabled"),
    ],
)
def test_inconsistent_values_fail_with_the_fix_to_apply(values: dict[str, Any], fix: str) -> None:
    with pytest.raises(helm().HelmError) as raised:
        render(values)
    assert "VALUES NEED A FIX" in str(raised.value)
    assert fix in str(raised.value)


def test_broker_url_for_trying_out_is_stored_in_a_chart_secret() -> None:
    objects = manifests(
        render(
            {"rabbitmq": {"enabled": False}, "broker": {"url": "amqp://me:pw@mq.internal:5672/"}}
        )
    )
    (secret,) = of_kind(objects, "Secret")
    import base64

    assert base64.b64decode(secret["data"]["amqp-url"]).decode() == "amqp://me:pw@mq.internal:5672/"
    assert not of_kind(objects, "StatefulSet")


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "interplay"
    shutil.copytree(CHART, copy, symlinks=False)
    return copy


def test_a_template_error_fails_the_render_and_the_lint(chart_copy: Path) -> None:
    service = chart_copy / "templates" / "service.yaml"
    service.write_text(service.read_text().replace("{{- end }}", "", 1))
    with pytest.raises(helm().HelmError):
        render(chart=chart_copy)
    assert any("service.yaml" in p for p in lint_problems(lint(chart=chart_copy)))


def test_a_template_that_renders_invalid_yaml_is_caught_by_lint(chart_copy: Path) -> None:
    service = chart_copy / "templates" / "service.yaml"
    # Wrong indentation: still a valid template, but the output is no longer YAML.
    service.write_text(
        service.read_text().replace(
            "  type: {{ $.Values.metrics.service.type }}",
            "   type: {{ $.Values.metrics.service.type }}",
        )
    )
    render(chart=chart_copy)  # the engine alone does not notice
    problems = lint_problems(lint(chart=chart_copy))
    assert any("service.yaml" in p and "yaml" in p.lower() for p in problems), problems


# --- the chart as an example to copy: documented values, schema, helpers ------------------


def leaf_paths(node: Any, prefix: str = "") -> set[str]:
    """Documented parameter paths: leaves, and maps/lists that are free-form values."""
    if (
        isinstance(node, dict)
        and node
        and not prefix.endswith(("resources", "Labels", "labels", "annotations", "Annotations"))
    ):
        paths: set[str] = set()
        for key, value in node.items():
            paths |= leaf_paths(value, f"{prefix}.{key}" if prefix else key)
        return paths
    return {prefix}


def test_every_value_is_documented_with_a_param_and_grouped_in_a_section() -> None:
    text = (CHART / "values.yaml").read_text()
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, re.MULTILINE))
    values = yaml.safe_load(text)
    assert leaf_paths(values) - documented == set(), "values without ## @param"
    assert documented - leaf_paths(values) == set(), "## @param for values that do not exist"
    first_param = text.index("## @param")
    assert "## @section" in text[:first_param]


def test_schema_describes_every_top_level_value_and_requires_the_essentials() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    module("jsonschema").Draft7Validator.check_schema(schema)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert {"broker", "domains", "pattern", "image"} <= set(schema["required"])
    assert schema["definitions"]["domain"]["additionalProperties"] is False


def test_named_templates_are_prefixed_and_each_has_a_comment() -> None:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text().splitlines()
    defines = [(i, line) for i, line in enumerate(helpers) if "define " in line]
    assert len(defines) >= 10
    for index, line in defines:
        name = re.search(r'define "([^"]+)"', line)
        assert name and name.group(1).startswith("interplay."), line
        assert helpers[index - 1].startswith("{{/*"), f"no comment above {name.group(1)}"
    assert any('define "interplay.validateValues"' in line for _, line in defines)


def test_notes_tell_where_things_are() -> None:
    notes = render()["interplay/templates/NOTES.txt"]
    assert "kubectl -n shop get pods -l app.kubernetes.io/instance=demo" in notes
    assert "interplay publish orders.order.placed" in notes
    assert "port-forward svc/demo-interplay-rabbitmq 15672" in notes
