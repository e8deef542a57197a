"""Plain data (dicts, lists, strings, numbers, booleans, None) as block-style YAML text.

Enough for generated documents such as ``docs/asyncapi.yaml``, without a YAML library at run
time: a string is written plain when YAML reads it back as the same string, else double-quoted
(JSON's string syntax is valid YAML). The output is deterministic: keys keep their order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

PLAIN = re.compile(r"^[A-Za-z_/$][A-Za-z0-9_ ./$#(),'+-]*$")
RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def dumps(value: Any) -> str:
    """``value`` as a YAML document (no leading ``---``), ending with a newline."""
    return "\n".join(_lines(value, 0)) + "\n"


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        plain = PLAIN.match(value) and value.lower() not in RESERVED
        return (
            value if plain and not value.endswith(" ") and " #" not in value else json.dumps(value)
        )
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines = []
        for key, item in value.items():
            lines += _entry(f"{pad}{scalar(str(key))}:", item, indent)
        return lines
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            nested = _lines(item, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
        return lines
    return [pad + scalar(value)]


def _entry(head: str, item: Any, indent: int) -> list[str]:
    empty = isinstance(item, Mapping | list | tuple) and not item
    if isinstance(item, Mapping | list | tuple) and not empty:
        return [head, *_lines(item, indent + 2)]
    return [f"{head} {_lines(item, 0)[0]}"]
