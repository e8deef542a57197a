"""The reference docs are generated from the code: a stale one fails here, with the fix to run."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from domains.registry import DOMAINS
from interplay.docs.reference import render_all, setting_rows, stale, write
from interplay.settings import Settings
from messaging.metrics import Metrics
from messaging.topology import rpc_queue
from orchestrators.choreography import step_queue

REFERENCE = Path(__file__).parents[2] / "docs" / "reference"
GENERATED = render_all()


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_the_committed_reference_doc_is_what_the_code_generates(name: str) -> None:
    committed = (REFERENCE / name).read_text()
    assert committed == GENERATED[name], f"docs/reference/{name} is stale: run `interplay docs`"


def test_every_contract_and_queue_of_every_domain_is_in_the_events_reference() -> None:
    events = GENERATED["events.md"]
    for domain in DOMAINS.values():
        for contract in domain.contracts():
            assert f"`{contract.message_type}`" in events, contract.__name__
            assert contract.__name__ in events
        for service in domain.services:
            assert rpc_queue(domain.name, service) in events
        for workflow in domain.workflows:
            for step in workflow.steps:
                assert f"`{step_queue(domain.name, workflow, step)}`" in events


def test_every_metric_family_is_in_the_metrics_reference() -> None:
    metrics = GENERATED["metrics.md"]
    for family in Metrics(CollectorRegistry()).registry.collect():
        exposed = family.name + "_total" if family.type == "counter" else family.name
        assert f"`{exposed}` | {family.type} |" in metrics
        assert family.documentation in metrics


def test_every_setting_has_its_variable_and_a_meaning_in_the_configuration_reference() -> None:
    configuration = GENERATED["configuration.md"]
    for name in Settings.model_fields:
        assert f"`INTERPLAY_{name.upper()}`" in configuration, name
    for variable, _, _, meaning in setting_rows():
        assert meaning, f"{variable} has no description: give its Settings field one"


def test_check_names_the_files_that_differ_from_the_code(tmp_path: Path) -> None:
    write(tmp_path)
    assert stale(tmp_path) == []
    (tmp_path / "metrics.md").write_text("edited by hand\n")
    (tmp_path / "events.md").unlink()
    assert sorted(stale(tmp_path)) == [tmp_path / "events.md", tmp_path / "metrics.md"]
