"""The code of a new domain, from the templates in ``interplay/scaffold/templates/new_domain``.

Templates are ``string.Template`` files (``$name``); what repeats per step is a template of its
own. Imports are listed as each file needs them, one line per module in no special order, and
calls are written on one line: ``interplay.scaffold.project.tidy`` has ruff sort and lay them
out. Only the text ruff leaves alone is wrapped here: docstrings and the generating command.
"""

from __future__ import annotations

import textwrap
import types
import typing
from collections import defaultdict
from pathlib import Path
from string import Template
from typing import Any

from interplay.scaffold.plan import DomainPlan, StepNames, camel

TEMPLATES = Path(__file__).parent / "templates" / "new_domain"
LINE_LENGTH = 100  # the project's (pyproject.toml), for the docstrings written here

Imports = dict[str, set[str]]  # module -> names imported from it


class UnwritableType(Exception):
    """A trigger field's type cannot be written as source code."""


def render_domain(plan: DomainPlan) -> dict[str, str]:
    """The generated files, by path relative to the project's root."""
    values = _plan_values(plan)
    folder = f"domains/{plan.name}"
    files = {
        f"{folder}/__init__.py": _fill("__init__.py", values),
        f"{folder}/events.py": _events(plan, values),
        f"{folder}/services.py": _services(plan, values),
        f"{folder}/repository.py": _fill("repository.py", values),
        f"{folder}/migrations/__init__.py": _fill("migrations_init.py", values),
        f"{folder}/migrations/{plan.name}_0001_tables.py": _fill("migration_first.py", values),
        f"{folder}/workflow.py": _workflow(plan, values),
        f"{folder}/container.py": _container(plan, values),
        f"tests/unit/domains/test_{plan.name}_services.py": _tests(plan, values),
    }
    return {path: text.rstrip("\n") + "\n" for path, text in files.items()}


def _plan_values(plan: DomainPlan) -> dict[str, str]:
    journal = camel(plan.name) + "Journal"
    return {
        "domain": plan.name,
        "Domain": camel(plan.name),
        "summary": docstring(
            f"The {plan.name} domain: on {plan.trigger.message_type}, {', '.join(plan.step_names)}."
        ),
        "command_line": _command_block(plan.command_line),
        "trigger_key": plan.trigger.message_type,
        "Trigger": plan.trigger.__name__,
        "workflow": plan.workflow,
        "service": "desk",
        "Desk": camel(plan.entity) + "Desk",
        "Journal": journal,
        "SqlJournal": "Sql" + journal,
        "table": f"{plan.name}_steps",
        "Container": camel(plan.name) + "Container",
        "Completed": plan.completed,
        "completed_key": plan.completed_key,
        "Failed": plan.failed,
        "failed_key": plan.failed_key,
        "step_list": textwrap.fill(
            f"Steps, in order: {', '.join(plan.step_names)}. When one fails, the steps done so "
            "far are undone in reverse.",
            LINE_LENGTH,
        ),
    }


def _step_values(step: StepNames) -> dict[str, str]:
    return {
        "step": step.step,
        "Command": step.command,
        "command_key": step.command_key,
        "Recorded": step.recorded,
        "recorded_key": step.recorded_key,
        "Undo": step.undo,
        "undo_key": step.undo_key,
    }


def _events(plan: DomainPlan, values: dict[str, str]) -> str:
    imports: Imports = defaultdict(set)
    imports["typing"].add("ClassVar")
    imports["orchestrators"].update(("Command", "Event", "Reply"))
    fields = "\n".join(
        f"    {name}: {type_source(field.annotation, imports)}"
        for name, field in plan.trigger.model_fields.items()
    )
    contracts = []
    for number, step in enumerate(plan.steps, start=1):
        summary = f"{'the first' if number == 1 else f'number {number}'} of the flow."
        step_values = {**_step_values(step), "step_summary": summary, "trigger_fields": fields}
        contracts.append(_fill("events_step.py", {**values, **step_values}).rstrip("\n"))
    references = "\n".join(f"    {step.step}_reference: str" for step in plan.steps)
    return _fill(
        "events.py",
        {
            **values,
            "imports": import_lines(imports),
            "completed_fields": references,
            "step_contracts": "\n".join(contracts),
        },
    )


def _services(plan: DomainPlan, values: dict[str, str]) -> str:
    methods = []
    for previous, step in zip((None, *plan.steps), plan.steps, strict=False):
        template = "services_first_step.py" if previous is None else "services_next_step.py"
        step_values = {**_step_values(step), "previous": previous.step if previous else ""}
        methods.append(_fill(template, {**values, **step_values}).rstrip("\n"))
    imports: Imports = defaultdict(set)
    imports["uuid"].add("")
    imports["dataclasses"].add("dataclass")
    imports["enum"].add("StrEnum")
    imports["typing"].add("Protocol")
    imports[f"domains.{plan.name}.events"].update(
        name for step in plan.steps for name in (step.command, step.recorded, step.undo)
    )
    imports["orchestrators"].add("Refused")
    names = {"imports": import_lines(imports), "step_methods": "\n".join(methods)}
    return _fill("services.py", {**values, **names})


def _container(plan: DomainPlan, values: dict[str, str]) -> str:
    imports: Imports = defaultdict(set)
    imports["dependency_injector"].update(("containers", "providers"))
    imports[f"domains.{plan.name}"].add("repository")
    imports[f"domains.{plan.name}.events"].update((plan.completed, plan.failed))
    imports[f"domains.{plan.name}.services"].add(values["Desk"])
    imports[f"domains.{plan.name}.workflow"].add("workflows")
    imports["orchestrators"].add("Domain")
    imports["orchestrators.state.database"].add("Database")
    return _fill("container.py", {**values, "imports": import_lines(imports)})


def _workflow(plan: DomainPlan, values: dict[str, str]) -> str:
    imports: Imports = defaultdict(set)
    imports[f"domains.{plan.name}.events"].update(
        (
            plan.completed,
            plan.failed,
            *(s.command for s in plan.steps),
            *(s.undo for s in plan.steps),
        )
    )
    imports[plan.trigger.__module__].add(plan.trigger.__name__)
    imports["orchestrators"].update(("Step", "Workflow"))
    steps = ", ".join(
        f'Step("{step.step}", service="{values["service"]}", command={step.command}, '
        f"compensation={step.undo})"
        for step in plan.steps
    ) + ("," if len(plan.steps) == 1 else "")  # a tuple of one
    return _fill("workflow.py", {**values, "imports": import_lines(imports), "steps": steps})


def _tests(plan: DomainPlan, values: dict[str, str]) -> str:
    builders = "\n\n".join(_fill("test_command_builder.py", _step_values(s)) for s in plan.steps)
    tests = []
    for index, step in enumerate(plan.steps[1:], start=1):
        previous = plan.steps[index - 1]
        prepare = "\n".join(
            f"    await desk.{done.step}({done.step}_command())" for done in plan.steps[:index]
        )
        step_values = {
            **_step_values(step),
            "previous": previous.step,
            "PreviousUndo": previous.undo,
            "prepare": prepare,
        }
        tests.append(_fill("test_next_step.py", {**values, **step_values}).rstrip("\n"))
    first = plan.steps[0]
    imports: Imports = defaultdict(set)
    imports["typing"].add("Any")
    imports["pytest"].add("")
    imports[f"domains.{plan.name}"].add("repository")
    undone = {plan.steps[0].undo, *(step.undo for step in plan.steps[:-1])}
    imports[f"domains.{plan.name}.events"].update((*(s.command for s in plan.steps), *undone))
    imports[f"domains.{plan.name}.services"].update(
        (values["Desk"], "StepStatus", "StepUndone", *(("StepOutOfOrder",) if tests else ()))
    )
    imports["orchestrators.state.database"].add("Database")
    names = {
        "imports": import_lines(imports),
        "command_builders": builders.rstrip("\n"),
        "first": first.step,
        "first_command": f"{first.step}_command",
        "FirstUndo": first.undo,
        "step_tests": "\n".join(tests),
    }
    return _fill("test_services.py", {**values, **names})


def docstring(text: str) -> str:
    """A module docstring of ``text``, wrapped to the line length."""
    lines = textwrap.wrap(text, LINE_LENGTH - 3)
    if len(lines) == 1:
        return f'"""{lines[0]}"""'
    return '"""' + "\n".join(lines) + '\n"""'


def _command_block(command_line: str) -> str:
    """The command that generated the domain, indented in a docstring, split to fit."""
    lines = textwrap.wrap(command_line, LINE_LENGTH - 6, break_on_hyphens=False)
    return " \\\n".join(
        f"    {line}" if n == 0 else f"        {line}" for n, line in enumerate(lines)
    )


def _fill(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATES / f"{template}.tmpl").read_text()
    return Template(text).substitute(values)


def import_lines(imports: Imports) -> str:
    """One ``import`` line per module, for ruff to sort into sections and wrap."""
    lines = []
    for module, names in sorted(imports.items()):
        if "" in names:
            lines.append(f"import {module}")
        if names - {""}:
            lines.append(f"from {module} import {', '.join(sorted(names - {''}))}")
    return "\n".join(lines)


def type_source(annotation: Any, imports: Imports) -> str:
    """``annotation`` as source code, adding what it needs to ``imports``."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Ellipsis:
        return "..."
    if annotation is Any:
        imports["typing"].add("Any")
        return "Any"
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_source(arguments[0], imports)  # constraints stay with the producer
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_source(argument, imports) for argument in arguments)
    if origin is typing.Literal:
        imports["typing"].add("Literal")
        return f"Literal[{', '.join(repr(argument) for argument in arguments)}]"
    if origin is not None:
        inner = ", ".join(type_source(argument, imports) for argument in arguments)
        return f"{type_source(origin, imports)}[{inner}]"
    if isinstance(annotation, type) and "." not in annotation.__qualname__:
        if annotation.__module__ != "builtins":
            imports[annotation.__module__].add(annotation.__name__)
        return annotation.__name__
    raise UnwritableType(f"cannot write the type {annotation!r} as source code")
