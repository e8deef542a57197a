"""Prometheus configuration and alerts checked by promtool; the Grafana dashboard's shape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_harness import (
    DASHBOARD,
    DEPLOY,
    DOMAINS,
    PROMETHEUS_CONFIG,
    RULE_TESTS,
    RULES,
    dashboard,
    dashboard_queries,
    module,
    run,
    tool,
)

# The metrics the application contract names (design §6, docs/observability.md).
INTERPLAY_METRICS = {
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
    "interplay_flow_end_to_end_seconds",
}
# One order crosses every domain: its whole time is not filtered by the domain variable.
CROSS_DOMAIN = {"interplay_flow_end_to_end_seconds"}
# Read off a real broker's /metrics/per-object (rabbitmq_prometheus 3.10 and later).
RABBITMQ_PER_QUEUE = {
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_consumers",
}
METRIC_NAME = re.compile(
    r"\b((?:interplay|rabbitmq)_[a-z_]+?)(?:_bucket|_count|_sum)?\b(?=\s*[{\[(])"
)


def metric_names(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))


def test_promtool_accepts_the_scrape_config_and_its_rule_files() -> None:
    output = run(tool("promtool"), "check", "config", PROMETHEUS_CONFIG).stdout
    assert "SUCCESS" in output
    # The rules the config loads are the ones in the repository.
    assert "rules/interplay.rules.yml" in output


def test_promtool_accepts_the_alerting_rules() -> None:
    output = run(tool("promtool"), "check", "rules", *RULES).stdout
    assert re.search(r"SUCCESS: [1-9]\d* rules found", output)


def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS
    result = run(
        tool("promtool"), "test", "rules", *RULE_TESTS, cwd=DEPLOY / "prometheus" / "tests"
    )
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_rule_tests_catch_an_alert_that_would_not_fire(tmp_path: Path) -> None:
    broken_rules = tmp_path / "rules" / "interplay.rules.yml"
    broken_rules.parent.mkdir()
    broken_rules.write_text(RULES[0].read_text().replace("== 0\n", "== 42\n"))
    tests = tmp_path / "tests" / RULE_TESTS[0].name
    tests.parent.mkdir()
    tests.write_text(RULE_TESTS[0].read_text())
    result = run(tool("promtool"), "test", "rules", tests, cwd=tests.parent, check=False)
    assert result.returncode != 0
    assert "InterplayQueueWithoutConsumers" in result.stdout + result.stderr


def test_there_is_an_alert_for_each_failure_an_operator_must_hear_about() -> None:
    rules = [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    by_name = {rule["alert"]: rule["expr"] for rule in rules}
    assert "interplay_dead_letters_total" in by_name["InterplayDeadLettersGrowing"]
    assert "interplay_flows_in_flight" in by_name["InterplayFlowsStuck"]
    assert "rabbitmq_queue_consumers" in by_name["InterplayQueueWithoutConsumers"]
    assert 'outcome="timeout"' in by_name["InterplayRpcTimeoutsRising"]
    assert "interplay_compensations_total" in by_name["InterplayCompensationRateHigh"]
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_scrape_config_covers_every_domain_and_both_rabbitmq_endpoints() -> None:
    jobs = {
        job["job_name"]: job
        for job in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    }
    targets = {t for c in jobs["interplay"]["static_configs"] for t in c["targets"]}
    assert targets == {f"{domain}:9464" for domain in DOMAINS}
    assert jobs["rabbitmq"]["metrics_path"] == "/metrics"
    assert jobs["rabbitmq-per-object"]["metrics_path"] == "/metrics/per-object"
    for job in ("rabbitmq", "rabbitmq-per-object"):
        assert jobs[job]["static_configs"][0]["targets"] == ["rabbitmq:15692"]


def test_every_dashboard_panel_is_titled_and_described() -> None:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    for panel in panels:
        assert panel["title"].strip(), panel
        assert len(panel.get("description", "")) > 40, panel["title"]
        assert panel["targets"], panel["title"]
    assert len({p["title"] for p in panels}) == len(panels), "duplicate panel titles"


def test_dashboard_queries_use_rate_interval_and_the_domain_and_pattern_variables() -> None:
    for title, expr in dashboard_queries():
        unquoted = re.sub(r'"[^"]*"', '""', expr)
        for window in re.findall(r"\[([^\]]+)\]", unquoted):
            assert window == "$__rate_interval", (title, expr)
        if "interplay_" in expr and "pattern" not in title.lower():
            assert '=~"$domain"' in expr or metric_names(expr) <= CROSS_DOMAIN, (title, expr)
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    for name in ("domain", "pattern"):
        assert variables[name]["type"] == "query"
        assert variables[name]["definition"].startswith("label_values(")
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"


def test_dashboard_shows_every_metric_of_the_contract_and_the_broker_queues() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_queries()))
    assert used >= INTERPLAY_METRICS, INTERPLAY_METRICS - used
    assert used >= RABBITMQ_PER_QUEUE, RABBITMQ_PER_QUEUE - used
    assert used <= INTERPLAY_METRICS | RABBITMQ_PER_QUEUE, used - INTERPLAY_METRICS


def test_dashboard_and_rules_name_only_metrics_the_application_registers() -> None:
    import prometheus_client

    from messaging.metrics import Metrics

    registry = prometheus_client.CollectorRegistry()
    Metrics(registry)
    registered = {f"{m.name}_total" if m.type == "counter" else m.name for m in registry.collect()}
    used = set().union(*(metric_names(expr) for _, expr in dashboard_queries()))
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                used |= metric_names(rule["expr"])
    interplay_used = {name for name in used if name.startswith("interplay_")}
    assert interplay_used <= registered, interplay_used - registered


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard_folder() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "interplay.yml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/interplay"
    assert DASHBOARD.name == "interplay.json"


# What Grafana's own schema (the grafana-foundation-sdk's typed models) does not model: the text
# the query editor shows for a query variable; Grafana derives it from `query` when it is missing.
UNMODELLED = {"templating/list/definition"}


def lost_in_round_trip(original: Any, typed: Any, path: str = "") -> set[str]:
    """Keys of ``original`` that the typed model did not carry back (list indexes folded)."""
    if isinstance(original, dict) and isinstance(typed, dict):
        lost = {f"{path}/{key}".lstrip("/") for key in original if key not in typed}
        for key in original.keys() & typed.keys():
            lost |= lost_in_round_trip(original[key], typed[key], f"{path}/{key}")
        return lost
    if isinstance(original, list) and isinstance(typed, list):
        pairs = zip(original, typed, strict=False)
        return set().union(*(lost_in_round_trip(a, b, path) for a, b in pairs))
    return set()


def test_the_dashboard_parses_into_grafanas_typed_model_without_losing_anything() -> None:
    # No Grafana server runs in CI; this is Grafana's own schema, as its SDK generates it.
    sdk_dashboard = module("grafana_foundation_sdk.models.dashboard")
    prometheus = module("grafana_foundation_sdk.models.prometheus")
    module("grafana_foundation_sdk.cog.plugins").register_default_plugins()
    encoder = module("grafana_foundation_sdk.cog.encoder").JSONEncoder
    original = dashboard()
    typed = sdk_dashboard.Dashboard.from_json(original)
    assert lost_in_round_trip(original, json.loads(json.dumps(typed, cls=encoder))) <= UNMODELLED
    panels = [p for p in typed.panels if not isinstance(p, sdk_dashboard.RowPanel)]
    assert panels and all(p.targets for p in panels)
    for panel in panels:
        # The panel's options parsed as its plugin's own type (timeseries.Options, stat.Options).
        assert type(panel.options).__module__.endswith(f".{panel.type_val}"), panel.title
        for target in panel.targets:
            assert isinstance(target, prometheus.Dataquery) and target.expr, panel.title
            assert target.datasource["uid"] == "${datasource}", panel.title
    (variable,) = [v for v in typed.templating.list_val if v.name == "datasource"]
    assert variable.query == "prometheus"  # the type of the provisioned data source


def test_a_dashboard_with_a_misspelt_key_is_caught_by_the_round_trip() -> None:
    module("grafana_foundation_sdk.cog.plugins").register_default_plugins()
    broken = dashboard()
    broken["panels"][1]["gridpos"] = broken["panels"][1].pop("gridPos")
    typed = module("grafana_foundation_sdk.models.dashboard").Dashboard.from_json(broken)
    encoder = module("grafana_foundation_sdk.cog.encoder").JSONEncoder
    lost = lost_in_round_trip(broken, json.loads(json.dumps(typed, cls=encoder)))
    assert "panels/gridpos" in lost


def test_grafana_provisioning_files_have_the_structure_grafana_reads() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasources["apiVersion"] == 1
    for source in datasources["datasources"]:
        assert {"name", "type", "access", "url", "uid"} <= set(source), source
        assert source["access"] in ("proxy", "direct") and source["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "interplay.yml").read_text())
    assert providers["apiVersion"] == 1
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    for provider in providers["providers"]:
        assert provider["type"] == "file" and {"name", "options"} <= set(provider)
        # The folder the provider reads is where compose mounts deploy/grafana/dashboards.
        assert f"../grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
