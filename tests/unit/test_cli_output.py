"""Output for scripts: ``--json`` is one JSON document, and tables never break an identifier
across lines, piped or on a narrow terminal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from interplay.cli import app
from interplay.cli.flows import age, runs_table, stuck_table
from interplay.cli.output import identifier_column, plain, text_column
from interplay.cli.trace import hops_table
from interplay.operations.trace import Hop
from orchestrators.flows import FlowView
from orchestrators.operations.contracts import StuckFlow
from orchestrators.state.saga import FlowStatus

ROUTING_KEYS = ("orders.order.placed", "inventory.stock.reservation_failed")


def rendered(table: Table, width: int) -> str:
    console = Console(width=width, record=True, soft_wrap=False)
    console.print(table)
    return console.export_text()


def test_piped_events_keep_every_routing_key_on_one_line() -> None:
    output = CliRunner().invoke(app, ["events"]).output  # not a terminal: piped

    lines = output.splitlines()
    for routing_key in ROUTING_KEYS:
        assert any(routing_key in line for line in lines), routing_key


def test_events_as_json_name_each_event_and_the_flows_they_end() -> None:
    result = CliRunner().invoke(app, ["events", "--json"])

    assert result.exit_code == 0
    events = {event["routing_key"]: event for event in json.loads(result.output)}
    assert events["orders.order.placed"]["consumed_by"] == ["orders"]
    assert events["orders.order.completed"]["ends_flow"] == {
        "flow": "order",
        "outcome": "completed",
    }
    assert events["notifications.customer.notified"]["ends_flow"] is None
    assert {"name": "order_id", "type": "str", "required": True} in events["orders.order.placed"][
        "fields"
    ]


def test_a_narrow_terminal_wraps_prose_between_words_and_never_an_identifier() -> None:
    table = Table()
    identifier_column(table, "routing key", ROUTING_KEYS)
    text_column(table, "consumed by", ["notifications, inventory, payments"])
    for routing_key in ROUTING_KEYS:
        table.add_row(routing_key, "notifications, inventory, payments")

    output = rendered(table, width=60)

    for name in (*ROUTING_KEYS, "notifications", "inventory", "payments"):
        assert name in output, name


def test_a_trace_table_keeps_message_types_whole_on_a_narrow_terminal() -> None:
    hop = Hop(
        "m-2", "m-1", "inventory.stock.reservation_failed", "inventory", "orders", 0.0, 0.001, 0.002
    )

    output = rendered(hops_table("c-1", [hop]), width=80)

    assert "inventory.stock.reservation_failed" in output


def test_a_flow_table_keeps_workflow_names_whole() -> None:
    run = FlowView(
        "payments", "take_payment", "choreography", FlowStatus.FAILED, ("authorise",),
        ("authorise",), None, "capture", "card declined for order o-1", 0.0,
    )  # fmt: skip

    output = rendered(runs_table("flow c-1", [run]), width=70)

    assert "take_payment" in output and "choreography" in output


class Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Sample:
    colour: Colour
    at: datetime
    raw: bytes
    names: tuple[str, ...]


def test_plain_turns_what_commands_hold_into_json() -> None:
    sample = Sample(Colour.RED, datetime(2026, 1, 2, tzinfo=UTC), b"\xff", ("a", "b"))

    assert plain(sample) == {
        "colour": "red",
        "at": "2026-01-02T00:00:00+00:00",
        "raw": "b'\\xff'",
        "names": ["a", "b"],
    }


def test_a_stuck_flows_age_reads_in_its_two_largest_units() -> None:
    ages = {
        0: "0s",
        42.7: "42s",
        307: "5m07s",
        3 * 3600 + 125: "3h02m",
        2 * 86400 + 3 * 3600: "2d03h",
    }
    assert {seconds: age(seconds) for seconds in ages} == ages


def test_a_stuck_flows_id_stays_whole_and_its_reason_folds_between_words() -> None:
    flow = StuckFlow(
        domain="payments",
        workflow="refund_payment",
        pattern="choreography",
        correlation_id="e229d22b-a9f1-4442-a80c-211be11d6a1f",
        trigger_id="e229d22b-a9f1-4442-a80c-211be11d6a1f",
        status="running",
        step="refund",
        reason="waits for an operator: past its deadline at refund",
        started_at=0.0,
        age_seconds=352.0,
    )
    text = rendered(stuck_table([flow]), 130)  # too narrow for the reason on one line
    assert "e229d22b-a9f1-4442-a80c-211be11d6a1f" in text and "5m52s" in text
    assert "refund_payment" in text and "operator:" in text and "deadline" in text
