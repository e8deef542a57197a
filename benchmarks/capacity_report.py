"""The capacity benchmark's report: one table with every variant side by side, its JSON, and the
sizing model computed from the cluster's figures (``benchmarks.sizing``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.capacity_load import DOMAIN, VariantRun, marginal, totals
from benchmarks.quorum_ceiling import QueueCeiling
from benchmarks.sizing import RATES, costs_of, markdown
from orchestrators import Pattern

MODEL_SETUP = "cluster + PostgreSQL"  # the setup the sizing model rests on


def variant_json(
    setup: str, key: str, pattern: Pattern, replicas: int, run: VariantRun
) -> dict[str, Any]:
    busiest = max(run.queue_messages.items(), key=lambda item: item[1], default=("-", 0.0))
    return {
        "setup": setup,
        "key": key,
        "pattern": pattern.value,
        "replicas": replicas,
        "orders_per_second": run.orders_per_second,
        "failed": run.failed,
        "retried": run.retried,
        "cpu_seconds_per_order": _by_payer(run.cpu_per_order),
        "idle_cpu_per_second": _by_payer(run.idle_cpu),
        "marginal_cpu_seconds_per_order": _by_payer(marginal(run)),
        "latency_seconds": {
            "saturated_p50": run.saturated_p50,
            "saturated_p99": run.saturated_p99,
            "steady": asdict(run.steady),
        },
        "messages_per_order": sum(run.queue_messages.values()),
        "transactions_per_order": run.transactions,
        "queues": run.queue_messages,
        "busiest_queue": {"name": busiest[0], "messages_per_order": busiest[1]},
    }


def _by_payer(seconds: dict[str, float]) -> dict[str, Any]:
    """Seconds by payer (domains, broker, database, storefront) and by domain."""
    domains = {name: value for name, value in seconds.items() if name.startswith(DOMAIN)}
    by_domain = {name.removeprefix(DOMAIN): value for name, value in domains.items()}
    return {**totals(seconds), "by_domain": by_domain}


def ceiling_json(ceiling: QueueCeiling | None) -> dict[str, Any] | None:
    if ceiling is None:
        return None
    return {**asdict(ceiling), "confirmed_per_second": ceiling.publish.per_second}


def line(run: VariantRun) -> str:
    cpu = totals(run.cpu_per_order)
    return (
        f"{run.orders_per_second:.1f} orders/s ({run.failed} failed); CPU ms/order "
        + ", ".join(f"{name} {seconds * 1000:.1f}" for name, seconds in cpu.items())
        + f"; p99 {run.steady.p99 * 1000:.0f} ms at {run.steady.offered_rate:.1f}/s"
    )


def _rows(variant: dict[str, Any]) -> dict[str, str]:
    cpu = variant["cpu_seconds_per_order"]
    idle = variant["idle_cpu_per_second"]
    extra = variant["marginal_cpu_seconds_per_order"]
    latency = variant["latency_seconds"]
    system = cpu["domains"] + cpu["broker"] + cpu["database"]
    return {
        "orders/s at saturation": f"{variant['orders_per_second']:.1f}",
        "orders failed / deliveries retried": f"{variant['failed']} / {variant['retried']:.0f}",
        "CPU ms/order: domains": f"{cpu['domains'] * 1000:.1f}",
        "CPU ms/order: broker": f"{cpu['broker'] * 1000:.1f}",
        "CPU ms/order: PostgreSQL": f"{cpu['database'] * 1000:.1f}",
        "CPU ms/order: system": f"{system * 1000:.1f}",
        "CPU ms/order: storefront": f"{cpu['storefront'] * 1000:.1f}",
        "idle CPU %: domains / broker / PostgreSQL": f"{idle['domains'] * 100:.0f} / "
        f"{idle['broker'] * 100:.0f} / {idle['database'] * 100:.0f}",
        "marginal CPU ms/order: domains": f"{extra['domains'] * 1000:.1f}",
        "marginal CPU ms/order: broker": f"{extra['broker'] * 1000:.1f}",
        "marginal CPU ms/order: PostgreSQL": f"{extra['database'] * 1000:.1f}",
        "p50 / p99 ms, saturated": f"{latency['saturated_p50'] * 1000:.0f} / "
        f"{latency['saturated_p99'] * 1000:.0f}",
        "steady rate (60%)": f"{latency['steady']['offered_rate']:.1f}",
        "p50 / p99 ms, steady": f"{latency['steady']['p50'] * 1000:.0f} / "
        f"{latency['steady']['p99'] * 1000:.0f}",
        "messages/order (queues)": f"{variant['messages_per_order']:.1f}",
        "PostgreSQL transactions/order": f"{variant['transactions_per_order']:.1f}",
        "busiest queue": variant["busiest_queue"]["name"],
        "  its messages/order": f"{variant['busiest_queue']['messages_per_order']:.1f}",
    }


def print_report(document: dict[str, Any], console: Console) -> None:
    variants = document["variants"]
    table = Table(title=f"capacity: {document['mode']} run", title_justify="left")
    table.add_column("figure")
    for variant in variants:
        table.add_column(f"{variant['setup']}\n{variant['pattern']}", justify="right")
    rows = [_rows(variant) for variant in variants]
    for figure in rows[0] if rows else {}:
        table.add_row(figure, *(row[figure] for row in rows))
    console.print(table)
    ceiling = document.get("quorum_queue")
    if ceiling:
        for way in ("publish", "consume"):
            shown = ceiling[way]
            console.print(
                f"one quorum queue ({ceiling['replicas']} members), {way}: "
                f"{shown['per_second']:,.0f} messages/s; CPU µs/message: broker "
                f"{shown['broker_cpu'] * 1e6:.0f}, client {shown['client_cpu'] * 1e6:.0f}"
            )
        for variant in variants:
            if variant["setup"] == MODEL_SETUP:
                console.print(
                    markdown(
                        variant["pattern"],
                        costs_of(variant),
                        ceiling["confirmed_per_second"],
                        RATES,
                    )
                )
    console.print(
        f"load average: {document['load_average_start']} at start, "
        f"{document['load_average_end']} at end"
    )


def markdown_tables(document: dict[str, Any]) -> str:
    """The measurements side by side, then the model of each pattern, as docs/capacity.md shows
    them."""
    variants = document["variants"]
    header = [f"{v['setup']}, {v['pattern']}" for v in variants]
    lines = ["| figure | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
    rows = [_rows(variant) for variant in variants]
    for figure in rows[0] if rows else {}:
        lines.append(f"| {figure.strip()} | " + " | ".join(row[figure] for row in rows) + " |")
    ceiling = document.get("quorum_queue")
    if ceiling:
        for variant in variants:
            if variant["setup"] == MODEL_SETUP:
                lines += [
                    "",
                    markdown(
                        variant["pattern"],
                        costs_of(variant),
                        ceiling["confirmed_per_second"],
                        RATES,
                    ),
                ]
    return "\n".join(lines) + "\n"


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
