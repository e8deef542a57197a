"""The Helm chart: rendered and linted by the Helm SDK, validated by Kubernetes and CRD schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_harness import (
    CHART,
    CHART_SCENARIOS,
    CRD_SCHEMAS,
    DASHBOARD,
    DOMAINS,
    RULES,
    crd_errors,
    helm,
    lint,
    lint_problems,
    manifests,
    of_kind,
    render,
    run,
    tool,
    values_file,
    with_image,
)

SCENARIOS = {"defaults": None} | {path.stem: path for path in CHART_SCENARIOS}
BUILT_IN_KINDS = {
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Job",
    "NetworkPolicy",
    "PersistentVolumeClaim",
    "Pod",
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
    return with_image() if path is None else values_file(path)


@pytest.fixture(scope="module")
def rendered_scenarios() -> dict[str, list[dict[str, Any]]]:
    return {name: manifests(render(scenario_values(name))) for name in SCENARIOS}


def test_every_ci_scenario_is_covered() -> None:
    assert {
        "choreography-values",
        "split-roles-values",
        "external-broker-values",
        "monitoring-values",
        "operator-values",
    } <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_chart_lints_without_warnings_or_errors(scenario: str) -> None:
    report = lint(scenario_values(scenario))
    assert report["total_charts_linted"] == 1
    assert lint_problems(report) == []


def test_every_built_in_manifest_passes_strict_kubernetes_validation(
    rendered_scenarios: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    files = []
    for scenario, objects in rendered_scenarios.items():
        for index, obj in enumerate(objects):
            if obj["kind"] in CRD_SCHEMAS:
                continue  # checked against the operators' CRDs below
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
    assert not [line for line in output.splitlines() if line.startswith("WARN")], output
    kinds = {obj["kind"] for objects in rendered_scenarios.values() for obj in objects}
    assert kinds - set(CRD_SCHEMAS) <= BUILT_IN_KINDS, kinds


def test_every_custom_resource_passes_its_operators_crd_schema(
    rendered_scenarios: dict[str, list[dict[str, Any]]],
) -> None:
    custom = [
        o for objects in rendered_scenarios.values() for o in objects if o["kind"] in CRD_SCHEMAS
    ]
    assert {o["kind"] for o in custom} == set(CRD_SCHEMAS), "a scenario renders every kind"
    assert [error for obj in custom for error in crd_errors(obj)] == []


@pytest.mark.parametrize(
    ("kind", "breaks", "expected"),
    [
        ("Permission", lambda s: s["permissions"].update(configur=".*"), "configur"),
        ("TopicPermission", lambda s: s["permissions"].pop("exchange"), "'exchange' is a required"),
        ("User", lambda s: s.update(tags=["superuser"]), "'superuser' is not one of"),
        ("Exchange", lambda s: s.pop("rabbitmqClusterReference"), "rabbitmqClusterReference"),
        ("RabbitmqCluster", lambda s: s["rabbitmq"].update(additionalPlugins=["a b"]), "a b"),
        ("ScaledObject", lambda s: s["triggers"][0].pop("metadata"), "'metadata' is a required"),
        ("ServiceMonitor", lambda s: s["endpoints"][0].update(scheme="tcp"), "'tcp' is not one"),
    ],
)
def test_crd_schemas_reject_what_the_api_server_would_refuse(
    rendered_scenarios: dict[str, list[dict[str, Any]]], kind: str, breaks: Any, expected: str
) -> None:
    (first, *_) = of_kind(rendered_scenarios["operator-values"], kind)
    breaks(first["spec"])
    assert expected in " ".join(crd_errors(first))


def test_strict_validation_catches_a_misspelled_field(tmp_path: Path) -> None:
    deployment = of_kind(manifests(render(with_image())), "Deployment")[0]
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


# --- monitoring: one job per kind of target, the rules promtool tests, the dashboard ------


def monitors(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    objects = manifests(render(values))
    return {m["metadata"]["name"]: m for m in of_kind(objects, "ServiceMonitor")}


def jobs(monitor: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """job name -> (port, path) of each endpoint, from its relabeling of the job label."""
    found = {}
    for endpoint in monitor["spec"]["endpoints"]:
        (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        found[job] = (endpoint["port"], endpoint["path"])
    return found


@pytest.mark.parametrize("rename", [{}, {"nameOverride": "shop-events"}])
def test_service_monitors_make_one_fixed_job_per_kind_of_target(rename: dict[str, Any]) -> None:
    values = scenario_values("monitoring-values") | rename
    found = monitors(values)
    prefix = "demo-shop-events" if rename else "demo-interplay"
    assert jobs(found[prefix]) == {"interplay": ("metrics", "/metrics")}
    assert jobs(found[f"{prefix}-rabbitmq"]) == {
        "rabbitmq": ("prometheus", "/metrics"),
        "rabbitmq-detailed": ("prometheus", "/metrics/detailed"),
    }
    # The rules and the dashboard select these job names.
    rules = RULES[0].read_text()
    assert 'job="interplay"' in rules
    assert all(
        m["metadata"]["labels"]["release"] == "kube-prometheus-stack" for m in found.values()
    )


def test_each_monitor_selects_only_services_with_its_port() -> None:
    values = scenario_values("monitoring-values")
    objects = manifests(render(values))
    services = [s for s in of_kind(objects, "Service") if s["spec"].get("clusterIP") != "None"]
    for monitor in of_kind(objects, "ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        ports = {port["name"] for s in selected for port in s["spec"]["ports"]}
        assert selected
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    domain_monitor = monitors(values)["demo-interplay"]
    selected = [
        s["metadata"]["name"]
        for s in services
        if domain_monitor["spec"]["selector"]["matchLabels"].items()
        <= s["metadata"]["labels"].items()
    ]
    assert sorted(selected) == sorted(f"demo-interplay-{d}" for d in DOMAINS), "broker once only"


def test_broker_detailed_metrics_keep_the_names_the_rules_query() -> None:
    detailed = monitors(scenario_values("monitoring-values"))["demo-interplay-rabbitmq"]
    endpoint = detailed["spec"]["endpoints"][1]
    assert endpoint["params"] == {
        "vhost": ["/"],
        "family": ["queue_coarse_metrics", "queue_consumer_count"],
    }
    (rename,) = endpoint["metricRelabelings"]
    assert rename["regex"] == "rabbitmq_detailed_(.+)" and rename["replacement"] == "rabbitmq_${1}"
    assert "rabbitmq_queue_consumers" in RULES[0].read_text()


def test_operator_mode_monitors_the_service_of_the_rabbitmq_cluster() -> None:
    found = monitors(scenario_values("operator-values"))
    selector = found["demo-interplay-rabbitmq"]["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/name"] == "demo-interplay-rabbitmq"


def test_prometheus_rule_carries_the_rules_file_promtool_tests() -> None:
    (rule,) = of_kind(manifests(render(scenario_values("monitoring-values"))), "PrometheusRule")
    (rules_file,) = RULES
    assert rule["spec"] == yaml.safe_load(rules_file.read_text())
    assert (CHART / "files" / "interplay.rules.yml").resolve() == rules_file.resolve()


def test_dashboard_config_map_carries_the_grafana_dashboard() -> None:
    objects = manifests(render(scenario_values("monitoring-values")))
    (config_map,) = [
        c
        for c in of_kind(objects, "ConfigMap")
        if c["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert json.loads(config_map["data"]["interplay.json"]) == json.loads(DASHBOARD.read_text())
    assert config_map["metadata"]["annotations"]["grafana_folder"] == "interplay"


# --- templates that break are caught ------------------------------------------------------


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "interplay"
    shutil.copytree(CHART, copy, symlinks=False)
    return copy


def test_a_template_error_fails_the_render_and_the_lint(chart_copy: Path) -> None:
    service = chart_copy / "templates" / "service.yaml"
    service.write_text(service.read_text().replace("{{- end }}", "", 1))
    with pytest.raises(helm().HelmError):
        render(with_image(), chart=chart_copy)
    assert any("service.yaml" in p for p in lint_problems(lint(with_image(), chart=chart_copy)))


def test_a_template_that_renders_invalid_yaml_is_caught_by_lint(chart_copy: Path) -> None:
    service = chart_copy / "templates" / "service.yaml"
    # Wrong indentation: still a valid template, but the output is no longer YAML.
    service.write_text(
        service.read_text().replace(
            "  type: {{ $.Values.metrics.service.type }}",
            "   type: {{ $.Values.metrics.service.type }}",
        )
    )
    render(with_image(), chart=chart_copy)  # the engine alone does not notice
    problems = lint_problems(lint(with_image(), chart=chart_copy))
    assert any("service.yaml" in p and "yaml" in p.lower() for p in problems), problems
