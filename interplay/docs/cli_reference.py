"""The command line reference (``docs/reference/cli.md``), generated from the typer app.

Every command's usage, help and parameters come from the code, so the reference says what the
installed ``interplay`` does. ``interplay cli-reference`` writes it; a unit test fails when it
is stale.
"""

from __future__ import annotations

from enum import Enum
from pathlib import PurePath
from typing import Any

import typer
from typer.core import TyperOption

HEADER = """# Command line reference

Generated from the commands' own help by `interplay cli-reference`; `tests/unit/test_reference.py`
fails when this file and the code disagree. `interplay <command> --help` says the same.
"""


def cli_reference(app: typer.Typer, name: str = "interplay") -> str:
    """The reference of every command of ``app``, in markdown."""
    return command_reference(typer.main.get_command(app), name)


def command_reference(root: Any, name: str = "interplay") -> str:
    """The reference of ``root``, the click command typer built: the running command line's own,
    ``ctx.find_root().command``, so that the command writing it need not import the app."""
    context = typer.Context(root, info_name=name)
    sections = [HEADER, *_sections(root, context)]
    return "\n".join(sections).rstrip("\n") + "\n"


# Commands, contexts and parameters are typer's (its own click); read through their attributes.
def _sections(command: Any, context: Any) -> list[str]:
    if hasattr(command, "list_commands"):  # a group of commands
        sections = []
        for sub_name in command.list_commands(context):
            sub = command.get_command(context, sub_name)
            if sub is not None and not sub.hidden:
                sub_context = typer.Context(sub, info_name=sub_name, parent=context)
                sections += _sections(sub, sub_context)
        return sections
    return [_section(command, context)]


def _section(command: Any, context: Any) -> str:
    parameters = [parameter for parameter in command.params if not _hidden(parameter)]
    lines = [f"## {context.command_path}", "", _text(command.help or ""), "", "```"]
    lines += [_usage(context.command_path, parameters), "```", ""]
    if parameters:
        lines += ["| parameter | type | default | description |", "|---|---|---|---|"]
        lines += [_row(parameter) for parameter in parameters]
        lines.append("")
    return "\n".join(lines)


def _usage(path: str, parameters: list[Any]) -> str:
    pieces = [path, "[OPTIONS]"]
    for argument in (p for p in parameters if not isinstance(p, TyperOption)):
        name = argument.name.upper()
        pieces.append(name if argument.required else f"[{name}]")
    return " ".join(pieces)


def _text(help_text: str) -> str:
    """Help text as markdown: ``<name>`` stays literal."""
    return help_text.strip().replace("<", "\\<")


def _hidden(parameter: Any) -> bool:
    return bool(getattr(parameter, "hidden", False)) or parameter.name == "help"


def _row(parameter: Any) -> str:
    if isinstance(parameter, TyperOption):
        names = " / ".join(f"`{o}`" for o in (*parameter.opts, *parameter.secondary_opts))
    else:
        names = f"`{parameter.name.upper()}`"
    kind = _kind(parameter.type_descriptor.annotation)
    required = "required" if parameter.required else _default(parameter.default)
    text = _text(parameter.help or "").replace("|", "\\|").replace("\n", " ")
    return f"| {names} | {kind} | {required} | {text} |"


def _kind(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(str(member.value) for member in annotation)
    kinds = {bool: "flag", int: "integer", float: "number", str: "text"}
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "path"
    return kinds.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(value: object) -> str:
    if value is None or callable(value):
        return ""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, bool):
        value = str(value).lower()
    return f"`{value}`" if value != "" else '`""`'
