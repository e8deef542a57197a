"""The report of a run: one row per figure, printed as a table and written as JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.stats import Spread, Target, paired_ratios


@dataclass(frozen=True)
class Row:
    """One figure, plain aio-pika's beside interplay's, with the ratio and its target.

    A row compares the two when ``plain`` runs are given. Its target bounds the median ratio, or
    with ``bounds_ratio=False`` (or without plain runs) interplay's own figure, as shown.
    """

    benchmark: str
    figure: str
    interplay: list[float]
    plain: list[float] = field(default_factory=list)
    target: Target | None = None
    scale: float = 1.0  # runs are kept in their own unit, shown multiplied by this (s -> ms)
    digits: int = 0
    note: str = ""
    bounds_ratio: bool = True

    @property
    def ratios(self) -> list[float]:
        return paired_ratios(self.interplay, self.plain) if self.plain else []

    @property
    def judged(self) -> Spread:
        """What the target bounds: the median ratio, or interplay's own figure."""
        if self.plain and self.bounds_ratio:
            return Spread.of(self.ratios)
        return Spread.of([run * self.scale for run in self.interplay])

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.judged.median)

    def to_json(self) -> dict[str, Any]:
        shown = {
            "interplay": Spread.of([run * self.scale for run in self.interplay]),
            **(
                {"plain": Spread.of([run * self.scale for run in self.plain])} if self.plain else {}
            ),
            **({"ratio": Spread.of(self.ratios)} if self.plain else {}),
        }
        return {
            "benchmark": self.benchmark,
            "figure": self.figure,
            "runs": {"interplay": self.interplay, "plain": self.plain, "ratio": self.ratios},
            **{name: vars_of(spread) for name, spread in shown.items()},
            "target": str(self.target) if self.target else None,
            "met": self.met,
            "note": self.note,
        }


def vars_of(spread: Spread) -> dict[str, float]:
    return {"median": spread.median, "min": spread.low, "max": spread.high}


def print_table(rows: list[Row], console: Console, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("benchmark", "figure", "plain aio-pika", "interplay", "ratio", "target", ""):
        table.add_column(column, justify="left" if column in ("benchmark", "figure") else "right")
    for row in rows:
        interplay = Spread.of([run * row.scale for run in row.interplay]).text(row.digits)
        plain = (
            Spread.of([run * row.scale for run in row.plain]).text(row.digits) if row.plain else ""
        )
        ratio = Spread.of(row.ratios).text(2) if row.plain else ""
        verdict = {True: "[green]met", False: "[red]not met", None: ""}[row.met]
        table.add_row(
            row.benchmark, row.figure, plain, interplay, ratio, str(row.target or ""), verdict
        )
    console.print(table)
    console.print("median (min-max) over repetitions; ratio = interplay / plain, paired per run")
    for row in rows:
        if row.note:
            console.print(f"[dim]{row.benchmark}, {row.figure}: {row.note}")


def markdown_table(rows: list[Row]) -> str:
    """The table as Markdown, for docs/performance.md."""
    lines = [
        "| benchmark | figure | plain aio-pika | interplay | ratio | target | |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        plain = Spread.of([run * row.scale for run in row.plain]) if row.plain else None
        interplay = Spread.of([run * row.scale for run in row.interplay])
        verdict = {True: "met", False: "**not met**", None: ""}[row.met]
        cells = (
            row.benchmark,
            row.figure,
            plain.text(row.digits) if plain else "",
            interplay.text(row.digits),
            Spread.of(row.ratios).text(2) if row.plain else "",
            str(row.target or ""),
            verdict,
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory = 0
    if hasattr(os, "sysconf"):
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_json(path: Path, rows: list[Row], context: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**context, "argv": sys.argv[1:], "rows": [row.to_json() for row in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n")
