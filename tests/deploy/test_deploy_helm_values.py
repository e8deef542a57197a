"""The chart's values: what the schema and validateValues refuse (with the fix), and their docs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_harness import (
    CHART,
    DEPLOY,
    DOMAINS,
    helm,
    lint,
    lint_problems,
    manifests,
    module,
    of_kind,
    render,
    values_file,
    with_image,
)


@pytest.mark.parametrize(
    ("values", "fix"),
    [
        pytest.param(
            {"domains": {"payments": {"replicas": 2}}},
            "domains.payments.replicas is 2 on SQLite, a file only one pod can write: set "
            "domains.payments.replicas=1, or keep the state in PostgreSQL: create a Secret with "
            "key payments-database-url holding the domain's URL and set database.existingSecret.",
            id="sqlite-with-two-replicas",
        ),
        pytest.param(
            {"domains": {"orders": {"roles": ["orchestrator", "order_book"]}}},
            "domains.orders.roles splits the domain into orchestrator, order_book on SQLite",
            id="split-roles-on-sqlite",
        ),
        pytest.param(
            {
                "rabbitmq": {"mode": "external"},
                "domains": {d: {"brokerSecret": f"{d}-broker"} for d in DOMAINS if d != "shipping"},
            },
            "domain shipping has no broker credentials: with rabbitmq.mode=external each domain "
            "logs in as its own user; create a Secret with key amqp-url holding its AMQP URL",
            id="external-domain-without-credentials",
        ),
        pytest.param(
            {"domains": {"orders": {"brokerSecret": "mine"}}},
            "domains.orders.brokerSecret is set but rabbitmq.mode is bundled",
            id="secret-for-a-managed-broker",
        ),
        pytest.param(
            {"autoscaling": {"keda": {"enabled": True}}},
            "autoscaling is on, but the state is in SQLite",
            id="autoscaling-on-sqlite",
        ),
        pytest.param(
            {
                "database": {"existingSecret": "db"},
                "autoscaling": {"keda": {"enabled": True}, "hpa": {"enabled": True}},
            },
            "two autoscalers would fight over the replicas: keep one.",
            id="two-autoscalers",
        ),
        pytest.param(
            {"domains": {"orders": {"roles": ["all", "orchestrator"]}}},
            "domains.orders.roles lists all next to orchestrator",
            id="all-next-to-a-role",
        ),
        pytest.param(
            {
                "database": {"existingSecret": "db"},
                "domains": {"orders": {"pattern": "choreography", "roles": ["orchestrator"]}},
            },
            "remove orchestrator from domains.orders.roles, or set domains.orders.pattern",
            id="orchestrator-of-a-choreography",
        ),
        pytest.param(
            {"domains": {d: {"enabled": False} for d in DOMAINS}},
            "no domain is enabled",
            id="no-domain",
        ),
        pytest.param(
            {
                "rabbitmq": {"mode": "operator"},
                "domains": {"billing": {"enabled": True, "replicas": 1, "roles": ["all"]}},
            },
            "domain billing has no broker user in files/definitions.json",
            id="domain-without-generated-user",
        ),
    ],
)
def test_a_refused_combination_fails_with_its_fix(values: dict[str, Any], fix: str) -> None:
    with pytest.raises(helm().HelmError) as raised:
        render(with_image(values))
    assert "VALUES NEED A FIX" in str(raised.value)
    assert fix in str(raised.value)


def test_without_an_image_the_render_says_how_to_build_and_push_one() -> None:
    with pytest.raises(helm().HelmError) as raised:
        render({})
    message = str(raised.value)
    assert "no public interplay image exists" in message
    assert "docker build -f deploy/Dockerfile -t <registry>/interplay:0.1.0 ." in message
    assert "docker push <registry>/interplay:0.1.0" in message
    assert "--set image.repository=<registry>/interplay" in message
    assert (DEPLOY / "Dockerfile").exists()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"pattern": "saga"}, "/pattern"),
        ({"domains": {"orders": {"pattern": "event-sourcing"}}}, "/domains/orders/pattern"),
        ({"domains": {"orders": {"replicas": "two"}}}, "/domains/orders/replicas"),
        ({"domains": {"orders": {"roles": []}}}, "/domains/orders/roles"),
        ({"domains": {"orders": {"role": ["all"]}}}, "/domains/orders"),
        ({"metrics": {"port": 80}}, "/metrics/port"),
        ({"rabbitmq": {"mode": "cluster"}}, "/rabbitmq/mode"),
        ({"rabbitmq": {"image": {"tag": "3.12-management"}}}, "/rabbitmq/image/tag"),
        ({"rabbitmq": {"replicas": 2}}, "/rabbitmq/replicas"),
        ({"replicaCount": 3}, "additional properties 'replicaCount'"),
    ],
)
def test_schema_rejects_values_that_cannot_work(values: dict[str, Any], expected: str) -> None:
    with pytest.raises(helm().HelmValuesError) as raised:
        render(with_image(values))
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    "tag", ["3.13-management", "3.13.7-management-alpine", "4.0", "4.1-management", "4.1.4"]
)
def test_schema_accepts_rabbitmq_3_13_and_4_images(tag: str) -> None:
    objects = manifests(render(with_image({"rabbitmq": {"image": {"tag": tag}}})))
    (statefulset,) = of_kind(objects, "StatefulSet")
    broker = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert broker["image"] == f"rabbitmq:{tag}"


def test_a_global_block_is_accepted_and_applied_as_a_subchart_would_get_it() -> None:
    values = with_image(
        {
            "global": {
                "imageRegistry": "mirror.example.internal",
                "imagePullSecrets": ["mirror-credentials"],
                "storageClass": "fast",  # another chart's global: left alone
            }
        }
    )
    objects = manifests(render(values))
    for workload in of_kind(objects, "Deployment") + of_kind(objects, "StatefulSet"):
        pod = workload["spec"]["template"]["spec"]
        images = [c["image"] for c in pod.get("initContainers", []) + pod["containers"]]
        assert all(image.startswith("mirror.example.internal/") for image in images), images
        assert pod["imagePullSecrets"] == [{"name": "mirror-credentials"}]


def test_schema_violating_values_file_fails_lint(tmp_path: Path) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text("domains:\n  payments:\n    replicas: -1\n")
    report = lint(with_image(values_file(bad)))
    assert any("/domains/payments/replicas" in problem for problem in lint_problems(report))


# --- the chart as an example to copy: documented values, schema, helpers, README -----------

FREE_FORM = ("resources", "Labels", "labels", "annotations", "Annotations", "Selector", "order")


def leaf_paths(node: Any, prefix: str = "") -> set[str]:
    """Documented parameter paths: leaves, and maps that are free-form values."""
    if isinstance(node, dict) and node and not prefix.endswith(FREE_FORM):
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
    assert "additionalProperties" not in schema["properties"]["global"], "a parent's globals pass"
    assert {"rabbitmq", "domains", "pattern", "image"} <= set(schema["required"])
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


def test_chart_readme_values_table_is_generated_from_values_yaml() -> None:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "helm" / "chart_readme.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    readme = (CHART / "README.md").read_text()
    assert (
        "| `rabbitmq.mode` | Where the broker is: `external`, `bundled` or `operator` | `bundled` |"
        in readme
    )


def test_notes_tell_where_things_are() -> None:
    notes = render(with_image())["interplay/templates/NOTES.txt"]
    assert "kubectl -n shop get pods -l app.kubernetes.io/instance=demo -w" in notes
    assert "helm test demo -n shop --logs" in notes
    assert "port-forward svc/demo-interplay-rabbitmq 15672" in notes
    assert "get secret demo-interplay-broker-admin" in notes
    assert "rabbitmq.auth.existingSecretPrefix" in notes, "the helm template case"


def test_notes_name_only_deployments_that_exist() -> None:
    values = values_file(CHART / "ci" / "split-roles-values.yaml")
    rendered = render(values)
    deployments = {d["metadata"]["name"] for d in of_kind(manifests(rendered), "Deployment")}
    named = set(
        re.findall(r"\b(demo-interplay-[a-z0-9-]+)", rendered["interplay/templates/NOTES.txt"])
    )
    named_deployments = {
        n for n in named if n.startswith(tuple(f"demo-interplay-{d}" for d in DOMAINS))
    }
    services = {f"demo-interplay-{d}" for d in DOMAINS}
    assert named_deployments <= deployments | services
    assert "demo-interplay-orders-orchestrator" in named_deployments
    assert "--follow" not in rendered["interplay/templates/NOTES.txt"].split("helm test")[0]
