"""Running the variants of a benchmark in turn, so that the machine's mood weighs on all alike.

The order flips on every repetition (a b c, c b a, a b c ...): neither variant always runs first,
or always right after the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

Say = Callable[[str], None]
Figure = TypeVar("Figure")

LONGEST_RUN = 90.0  # seconds: a run that takes longer is stuck (a broker that does not answer)


async def alternately(
    variants: Mapping[str, Callable[[], Awaitable[Figure]]],
    repetitions: int,
    say: Say,
    benchmark: str,
    shown: Callable[[Figure], str],
) -> dict[str, list[Figure]]:
    """Each variant's figure per repetition, run in alternating order."""
    runs: dict[str, list[Figure]] = {name: [] for name in variants}
    names = list(variants)
    for repetition in range(repetitions):
        for name in names if repetition % 2 == 0 else reversed(names):
            figure = await _run_or_retry(variants[name], say, f"{benchmark} {name}")
            runs[name].append(figure)
            say(f"{benchmark} {repetition + 1}/{repetitions} {name}: {shown(figure)}")
    return runs


async def _run_or_retry(run: Callable[[], Awaitable[Figure]], say: Say, what: str) -> Figure:
    """The run's figure; a run that gets stuck is tried once more, then the benchmark stops."""
    try:
        return await asyncio.wait_for(run(), LONGEST_RUN)
    except TimeoutError:
        say(f"{what} did not finish in {LONGEST_RUN:g}s; trying it once more")
    try:
        return await asyncio.wait_for(run(), LONGEST_RUN)
    except TimeoutError:
        raise RuntimeError(f"{what} did not finish in {LONGEST_RUN:g}s, twice") from None
