"""The Markdown the reference pages share: tables, anchors, docstrings and defaults as text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pydantic import SecretStr

from messaging.contracts import Contract

GENERATED = "_Generated from the code by `interplay docs`; do not edit by hand._"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table; a ``|`` inside a cell is escaped so that it stays one cell."""
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, dots and other punctuation dropped."""
    return "".join(c for c in title.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def own_doc(contract: type[Contract]) -> str:
    """The contract's own docstring on one line; not its base class's, which says nothing."""
    own = contract.__dict__.get("__doc__")
    return " ".join(own.split()) if isinstance(own, str) else "(no docstring)"


def as_typed(value: object) -> str:
    """A default as people would type it: JSON for collections, the secret's text."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()  # a public development default, as in the README
    if value is None:
        return "unset"
    if isinstance(value, bool | dict | list | tuple):
        return json.dumps(value)
    return str(value)
