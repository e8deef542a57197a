"""The event loop a process runs on: asyncio's own, or uvloop when the settings ask for it.

uvloop is optional (``pip install 'interplay[uvloop]'``; the image has it): it takes a few
percent off the CPU of a hop and more off its latency (docs/performance.md). Asking for it where
it is not installed is an error at start, not a quiet fall back to asyncio.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Literal

EventLoop = Literal["asyncio", "uvloop"]
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class EventLoopMissing(RuntimeError):
    """The settings name an event loop that is not installed."""


def loop_factory(name: EventLoop) -> LoopFactory | None:
    """What ``asyncio.Runner`` makes its loop with: None for asyncio's own."""
    if name == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as error:
        raise EventLoopMissing(
            "INTERPLAY_EVENT_LOOP=uvloop, but uvloop is not installed: "
            "pip install 'interplay[uvloop]', or unset INTERPLAY_EVENT_LOOP for asyncio's loop"
        ) from error
    factory: LoopFactory = uvloop.new_event_loop
    return factory
