"""``interplay events``: the contracts on the wire, who publishes and who consumes them."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from domains.registry import DOMAINS
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


def events() -> None:
    """List the events with their routing keys, producers, consumers and fields."""
    table = Table(title="interplay events (exchange interplay.events)")
    for column in ("routing key", "published by", "consumed by", "fields"):
        table.add_column(column, overflow="fold")
    for routing_key, event in event_catalog().items():
        producers = [d.name for d in DOMAINS.values() if event in d.publishes] or ["storefront"]
        consumers = [d.name for d in DOMAINS.values() if event in d.consumes] or ["-"]
        table.add_row(routing_key, ", ".join(producers), ", ".join(consumers), fields_of(event))
    Console().print(table)


def _type_name(annotation: object) -> str:
    name = getattr(annotation, "__name__", None)
    return name if isinstance(name, str) and "[" not in str(annotation) else str(annotation)
