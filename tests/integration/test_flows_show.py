"""``interplay flows show`` tells where a flow stands, in progress and finished, under both
patterns (orchestrated domains from saga rows, choreographed ones from their step records), on
SQLite and on PostgreSQL, as the domains answer it over the broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domains.registry import DOMAINS
from interplay.cli import app
from interplay.operations.flows import flow_views
from orchestrators import Pattern
from orchestrators.flows import FlowView
from orchestrators.state.saga import FlowStatus
from tests.flows import EXPECTED_EVENTS, HAPPY, TIMEOUT, EventTap, order
from tests.inprocess import running_system, settings_for
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

PATTERNS = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "payments": Pattern.CHOREOGRAPHY}


def view(views: list[FlowView], domain: str, workflow: str) -> FlowView:
    (found,) = [v for v in views if v.domain == domain and v.workflow == workflow]
    return found


async def test_a_flow_is_shown_while_in_progress_and_when_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    with fresh_vhost("interplay-flows") as amqp_url:
        settings = settings_for(amqp_url, tmp_path, PATTERNS, database_url=database_url)
        async with running_system(amqp_url, tmp_path, PATTERNS, database_url=database_url):
            tap = EventTap(amqp_url)
            await tap.start()
            hanging = await tap.place(order(TIMEOUT))  # the capture hangs past its timeout
            happy = await tap.place(order(HAPPY))

            in_progress = None
            for _ in range(100):
                views, unanswered = await flow_views(settings, hanging, timeout=5)
                assert unanswered == {}
                payment = [v for v in views if v.workflow == "take_payment"]
                if payment and payment[0].current_step == "capture":
                    in_progress = payment[0]
                    break
                await asyncio.sleep(0.02)
            await tap.wait_for(
                {hanging: EXPECTED_EVENTS[TIMEOUT], happy: EXPECTED_EVENTS[HAPPY]}, 20
            )
            await tap.close()
            finished, _ = await flow_views(settings, hanging, timeout=5)
            completed, _ = await flow_views(settings, happy, timeout=5)

            monkeypatch.setenv("INTERPLAY_AMQP_URL", amqp_url)
            command = ["flows", "show", happy, "--json"]
            shown = await asyncio.to_thread(CliRunner().invoke, app, command)

        assert in_progress is not None, "the hanging capture was never seen in progress"
        assert in_progress.status is FlowStatus.RUNNING
        assert in_progress.done == ("authorise",)
        assert in_progress.pattern == "choreography"

        payment = view(finished, "payments", "take_payment")
        assert payment.status is FlowStatus.FAILED
        # The journal records a step after publishing its event, so two compensations that
        # finish close together may be recorded in either order.
        assert sorted(payment.compensated) == ["authorise", "capture"]
        assert payment.failed_step == "capture"
        assert "did not finish" in (payment.reason or "")
        assert view(finished, "orders", "cancel_order").status is FlowStatus.COMPLETED
        assert view(finished, "inventory", "release_stock").pattern == "orchestration"

        assert {v.status for v in completed} == {FlowStatus.COMPLETED}
        assert view(completed, "shipping", "ship_order").done == ("quote", "book", "label")

        assert shown.exit_code == 0, shown.output
        document = json.loads(shown.stdout)
        assert document["correlation_id"] == happy
        assert document["unanswered"] == {}
        runs = {(run["domain"], run["workflow"]): run for run in document["runs"]}
        assert runs["shipping", "ship_order"]["done"] == ["quote", "book", "label"]
        assert {run["status"] for run in document["runs"]} == {"completed"}


def test_a_broker_where_no_domain_ran_names_every_domain_as_not_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fresh_vhost("interplay-flows-none") as amqp_url:
        monkeypatch.setenv("INTERPLAY_AMQP_URL", amqp_url)
        result = CliRunner().invoke(app, ["flows", "show", "no-such-flow", "--timeout", "1"])
    assert result.exit_code == 3, result.output
    assert "no domain that answered has a record of flow no-such-flow" in result.stdout
    for domain in DOMAINS:
        assert f"{domain} did not answer: no operations queue" in result.stderr
