"""Prometheus configuration and alerts checked by promtool; the Grafana dashboard's shape."""

from __future__ import annotations

import re
from pathlib import Path

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
}
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
            assert '=~"$domain"' in expr, (title, expr)
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
