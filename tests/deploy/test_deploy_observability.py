"""Prometheus configuration and alerts checked by promtool; the Grafana dashboard's shape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from domains.registry import DOMAINS as REGISTERED
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
    "interplay_messages_unrouted_total",
}
# One order crosses every domain: its whole time is not filtered by the domain variable.
CROSS_DOMAIN = {"interplay_flow_end_to_end_seconds"}
# Read off a real broker's /metrics/per-object (rabbitmq_prometheus 3.10 and later).
RABBITMQ_PER_QUEUE = {
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_consumers",
}
# Read off RabbitMQ 3.10's /metrics (rabbitmq_prometheus): the node's health, on the Broker
# health row. The same names on RabbitMQ 4.
RABBITMQ_NODE = {
    "rabbitmq_alarms_memory_used_watermark",
    "rabbitmq_alarms_free_disk_space_watermark",
    "rabbitmq_alarms_file_descriptor_limit",
    "rabbitmq_process_open_fds",
    "rabbitmq_process_max_fds",
    "rabbitmq_connections",
    "rabbitmq_channels",
    "rabbitmq_global_messages_received_total",
    "rabbitmq_global_messages_confirmed_total",
    "rabbitmq_global_messages_delivered_total",
    "rabbitmq_global_messages_unroutable_dropped_total",
    "rabbitmq_global_messages_unroutable_returned_total",
}
# Every metric selector of a query: a metric name and its braces, if any.
SELECTOR = re.compile(r"\b((?:interplay|rabbitmq)_[a-z_]+|up)\b(\{[^}]*\})?")
NAMESPACE = 'namespace=~"$namespace"'
RUNBOOKS = DEPLOY.parent / "docs" / "runbooks.md"
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
    assert "interplay_messages_unrouted_total" in by_name["InterplayUnroutableMessages"]
    assert "rabbitmq_alarms_" in by_name["InterplayBrokerAlarm"]
    assert by_name["InterplayTargetDown"].strip() == "up == 0"
    assert "absent(up{" in by_name["InterplayTargetAbsent"]
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
    # Node-wide families come from /metrics only, so that no broker figure is counted twice.
    (keep,) = jobs["rabbitmq-per-object"]["metric_relabel_configs"]
    assert keep == {"source_labels": ["__name__"], "regex": "rabbitmq_queue_.+", "action": "keep"}


def alerting_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a page: lower case, punctuation dropped."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def runbook_sections() -> dict[str, str]:
    """The text of each section of docs/runbooks.md, by its anchor."""
    parts = re.split(r"^## (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {title.lower(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_alert_links_its_runbook_section_with_symptom_first_query_and_what_to_do() -> None:
    anchors = github_anchors(RUNBOOKS.read_text())
    sections = runbook_sections()
    for rule in alerting_rules():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbooks.md#{rule['alert'].lower()}", rule["alert"]
        anchor = url.split("#")[1]
        assert anchor in anchors, url
        for part in ("**Symptom.**", "**First query.**", "```promql", "**What to do.**"):
            assert part in sections[anchor], (rule["alert"], part)
    assert set(sections) == {rule["alert"].lower() for rule in alerting_rules()}


def test_every_first_query_of_the_runbooks_is_valid_promql(tmp_path: Path) -> None:
    queries = re.findall(r"```promql\n(.+?)\n```", RUNBOOKS.read_text(), re.DOTALL)
    assert len(queries) == len(alerting_rules())
    rules = [{"record": f"runbook:query_{n}:check", "expr": q} for n, q in enumerate(queries)]
    checked = tmp_path / "runbook-queries.yml"
    checked.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
    output = run(tool("promtool"), "check", "rules", checked).stdout
    assert f"SUCCESS: {len(queries)} rules found" in output


def test_the_unroutable_alert_leaves_out_exactly_the_events_no_contract_consumes() -> None:
    published = {e.message_type for d in REGISTERED.values() for e in d.publishes}
    consumed = {e.message_type for d in REGISTERED.values() for e in d.consumes}
    (rule,) = [r for r in alerting_rules() if r["alert"] == "InterplayUnroutableMessages"]
    (excluded,) = re.findall(r'message_type!~"([^"]+)"', rule["expr"])
    assert {key.replace("[.]", ".") for key in excluded.split("|")} == published - consumed


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
    assert used >= RABBITMQ_NODE, RABBITMQ_NODE - used
    known = INTERPLAY_METRICS | RABBITMQ_PER_QUEUE | RABBITMQ_NODE
    assert used <= known, used - known


def test_every_query_of_the_dashboard_is_scoped_by_the_namespace_variable() -> None:
    # compose has no namespace label: the variable's "All" (.*) matches a missing label too.
    for title, expr in dashboard_queries():
        selectors = SELECTOR.findall(expr)
        assert selectors, (title, expr)
        for name, braces in selectors:
            assert NAMESPACE in braces, (title, name, expr)
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    namespace = variables["namespace"]
    assert namespace["definition"] == "label_values(interplay_messages_sent_total, namespace)"
    assert namespace["includeAll"] and namespace["allValue"] == ".*"
    for name in ("domain", "pattern"):  # chained: the values of the chosen namespace
        assert NAMESPACE in variables[name]["definition"], name
    # Never a job name: under the chart it is the chart's name (or nameOverride).
    assert not any("job=" in expr for _, expr in dashboard_queries())


def test_the_broker_health_row_shows_alarms_descriptors_connections_channels_and_rates() -> None:
    panels = dashboard()["panels"]
    (row,) = [i for i, p in enumerate(panels) if p["title"].startswith("Broker health")]
    below = [p for p in panels[row + 1 :] if p["type"] != "row"]
    shown = set().union(*(metric_names(t["expr"]) for p in below for t in p["targets"]))
    assert shown >= RABBITMQ_NODE, RABBITMQ_NODE - shown
    row_y = panels[row]["gridPos"]["y"]
    assert all(p["gridPos"]["y"] > row_y for p in below)


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
