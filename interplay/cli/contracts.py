"""``interplay events``: the contracts on the wire, who publishes and who consumes them."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from domains.registry import DOMAINS
from interplay.cli.output import JSON, identifier_column, print_json, table_console, text_column
from messaging.contracts import Contract, Event


def event_catalog() -> dict[str, type[Event]]:
    """Every event any domain publishes or consumes, by routing key."""
    catalog: dict[str, type[Event]] = {}
    for domain in DOMAINS.values():
        for event in (*domain.publishes, *domain.consumes):
            catalog[event.message_type] = event
    return dict(sorted(catalog.items()))


def fields_of(contract: type[Contract]) -> str:
    return ", ".join(
        f"{name}{'' if field.is_required() else '?'}: {_type_name(field.annotation)}"
        for name, field in contract.model_fields.items()
    )


def event_rows() -> list[dict[str, Any]]:
    """Each event with who publishes and consumes it, its fields, and the flow it ends."""
    rows = []
    for routing_key, event in event_catalog().items():
        ends = event.ends_flow
        rows.append(
            {
                "routing_key": routing_key,
                "published_by": [d.name for d in DOMAINS.values() if event in d.publishes]
                or ["storefront"],
                "consumed_by": [d.name for d in DOMAINS.values() if event in d.consumes],
                "schema_version": event.schema_version,
                "fields": [
                    {
                        "name": name,
                        "type": _type_name(field.annotation),
                        "required": field.is_required(),
                    }
                    for name, field in event.model_fields.items()
                ],
                "ends_flow": {"flow": ends.flow, "outcome": ends.outcome} if ends else None,
            }
        )
    return rows


def events(as_json: bool = JSON) -> None:
    """List the events with their routing keys, producers, consumers and fields."""
    rows = event_rows()
    if as_json:
        print_json(rows)
        return
    table = Table(title="interplay events (exchange interplay.events)")
    identifier_column(table, "routing key", (row["routing_key"] for row in rows))
    cells = [
        (
            row["routing_key"],
            ", ".join(row["published_by"]),
            ", ".join(row["consumed_by"]) or "-",
            fields_of(event),
        )
        for row, event in zip(rows, event_catalog().values(), strict=True)
    ]
    for index, header in enumerate(("published by", "consumed by", "fields"), start=1):
        text_column(table, header, (cell[index] for cell in cells))
    for cell in cells:
        table.add_row(*cell)
    table_console().print(table)


def _type_name(annotation: object) -> str:
    name = getattr(annotation, "__name__", None)
    return name if isinstance(name, str) and "[" not in str(annotation) else str(annotation)
