"""``interplay new-domain``: a new domain folder from the template, registered and deployed.

The names come from the step names and one entity (the first step unless given): for billing on
``payments.payment.captured`` with steps ``invoice,send`` the commands are ``InvoiceOrder``
(``billing.order.invoice``) and ``SendInvoice`` (``billing.invoice.send``), each with a reply and
an ``Undo…`` compensation, and the outcomes are ``InvoiceSent`` (``billing.invoice.sent``) and
``InvoiceFailed`` (``billing.invoice.failed``).

Example::

    plan = plan_domain("billing", "payments.payment.captured", ["invoice", "send"], catalog)
    written = scaffold(Path("."), plan)
"""

from __future__ import annotations

import keyword
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from interplay.scaffold.code import LINE_LENGTH, render_domain
from messaging.contracts import Event
from orchestrators import Pattern

MAX_NAME = 16  # names end up in class names, routing keys and lines of at most 100 characters
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
REGISTRY = Path("domains/registry.py")
DOMAINS_BODY = re.compile(r"^(DOMAINS: dict\[str, Domain\] = \{\n)(.*?)(?=\n\}$)", re.M | re.S)
IRREGULAR_PAST = {
    "bid": "bid", "build": "built", "buy": "bought", "cut": "cut", "drop": "dropped",
    "find": "found", "get": "got", "give": "given", "hold": "held", "keep": "kept",
    "lend": "lent", "make": "made", "pay": "paid", "plan": "planned", "put": "put",
    "read": "read", "run": "run", "sell": "sold", "send": "sent", "set": "set", "ship": "shipped",
    "shut": "shut", "spend": "spent", "split": "split", "stop": "stopped", "take": "taken",
    "tell": "told", "win": "won", "write": "written",
}  # fmt: skip


class ScaffoldError(Exception):
    """The domain cannot be generated as asked; the message says why and what to do."""


def camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def past_tense(verb: str) -> str:
    """``send`` -> ``sent``, ``issue`` -> ``issued``; of the first word of a snake_case step."""
    first, _, rest = verb.partition("_")
    if first in IRREGULAR_PAST:
        done = IRREGULAR_PAST[first]
    elif first.endswith("e"):
        done = first + "d"
    elif first.endswith("y") and first[-2:-1] not in tuple("aeiou"):
        done = first[:-1] + "ied"
    else:
        done = first + "ed"
    return f"{done}_{rest}" if rest else done


@dataclass(frozen=True, slots=True)
class StepNames:
    """The names of one step's contracts and its place in the flow."""

    step: str
    domain: str
    entity: str

    @property
    def target(self) -> str:
        """What the command acts on: the entity, or the order for the step that makes it."""
        return "order" if self.step == self.entity else self.entity

    @property
    def command(self) -> str:
        return camel(self.step) + camel(self.target)

    @property
    def command_key(self) -> str:
        return f"{self.domain}.{self.target}.{self.step}"

    @property
    def recorded(self) -> str:
        return camel(self.step) + "Recorded"

    @property
    def recorded_key(self) -> str:
        return f"{self.command_key}_recorded"

    @property
    def undo(self) -> str:
        return "Undo" + camel(self.step)

    @property
    def undo_key(self) -> str:
        return f"{self.domain}.{self.target}.undo_{self.step}"


@dataclass(frozen=True)
class DomainPlan:
    """Everything the generated files are named after; ``plan_domain`` checks it."""

    name: str
    trigger: type[Event]
    step_names: tuple[str, ...]
    entity: str
    pattern: Pattern = Pattern.ORCHESTRATION

    @cached_property
    def steps(self) -> tuple[StepNames, ...]:
        return tuple(StepNames(step, self.name, self.entity) for step in self.step_names)

    @property
    def completed(self) -> str:
        return camel(self.steps[-1].target) + camel(past_tense(self.steps[-1].step))

    @property
    def completed_key(self) -> str:
        last = self.steps[-1]
        return f"{self.name}.{last.target}.{past_tense(last.step)}"

    @property
    def failed(self) -> str:
        return camel(self.entity) + "Failed"

    @property
    def failed_key(self) -> str:
        return f"{self.name}.{self.entity}.failed"

    @property
    def workflow(self) -> str:
        """Named after the trigger: ``on_payment_captured``."""
        return "on_" + "_".join(self.trigger.message_type.split(".")[1:])

    @property
    def command_line(self) -> str:
        pattern = (
            f" --pattern {self.pattern.value}" if self.pattern is not Pattern.ORCHESTRATION else ""
        )
        return (
            f"interplay new-domain {self.name} --on {self.trigger.message_type} "
            f"--steps {','.join(self.step_names)}{pattern}"
        )

    def class_names(self) -> list[str]:
        names = [self.completed, self.failed, camel(self.name) + "Container"]
        for step in self.steps:
            names += [step.command, step.recorded, step.undo]
        return names


def plan_domain(
    name: str,
    trigger_key: str,
    steps: Sequence[str],
    catalog: Mapping[str, type[Event]],
    *,
    entity: str | None = None,
    pattern: Pattern = Pattern.ORCHESTRATION,
    existing: Sequence[str] = (),
) -> DomainPlan:
    """Check the request and name everything; ``ScaffoldError`` says what is wrong."""
    _check_name("domain name", name)
    if name in existing:
        raise ScaffoldError(f"domain {name!r} exists already (known: {', '.join(existing)})")
    trigger = catalog.get(trigger_key)
    if trigger is None:
        known = "\n  ".join(catalog)
        raise ScaffoldError(f"no event {trigger_key!r} in the catalog; the known ones:\n  {known}")
    if "order_id" not in trigger.model_fields:
        raise ScaffoldError(f"{trigger_key} carries no order_id, the key of every flow")
    if not steps:
        raise ScaffoldError("give at least one step, e.g. --steps invoice,send")
    for step in steps:
        _check_name("step name", step)
    if len(set(steps)) != len(steps):
        raise ScaffoldError(f"step names repeat: {', '.join(steps)}")
    plan = DomainPlan(name, trigger, tuple(steps), entity or steps[0], pattern)
    _check_name("entity", plan.entity)
    names = plan.class_names()
    if len(set(names)) != len(names):
        raise ScaffoldError(f"these names would clash: {', '.join(sorted(names))}; try --entity")
    return plan


def _check_name(what: str, name: str) -> None:
    if not SNAKE_CASE.match(name) or len(name) > MAX_NAME or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{what} {name!r} must be snake_case (a-z, 0-9, _), at most {MAX_NAME} characters, "
            "and not a Python keyword"
        )


def register(registry: str, name: str) -> str:
    """``domains/registry.py`` with ``name`` imported and in the ``DOMAINS`` tuple."""
    imports = re.findall(r"^from domains\.(\w+)\.container import domain as \1$", registry, re.M)
    body = DOMAINS_BODY.search(registry)
    members_match = re.search(r"for domain in \(([^)]*)\)", body.group(2)) if body else None
    if not imports or body is None or members_match is None:
        raise ScaffoldError(f"{REGISTRY} no longer looks as expected: register {name} by hand")
    members = [m.strip() for m in members_match.group(1).split(",") if m.strip()] + [name]
    registry = registry[: body.start(2)] + _domains_body(members) + registry[body.end(2) :]
    line = f"from domains.{name}.container import domain as {name}"
    module_lines = [f"from domains.{m}.container import domain as {m}" for m in imports]
    anchor = next((text for text in module_lines if text > line), None)
    if anchor is None:
        return registry.replace(module_lines[-1], f"{module_lines[-1]}\n{line}", 1)
    return registry.replace(anchor, f"{line}\n{anchor}", 1)


def _domains_body(members: list[str]) -> str:
    """The comprehension as ``ruff format`` lays it out, on as few lines as fit."""
    flat = f"    domain.name: domain for domain in ({', '.join(members)})"
    if len(flat) <= LINE_LENGTH:
        return flat
    split = f"    domain.name: domain\n    for domain in ({', '.join(members)})"
    if len(split.splitlines()[1]) <= LINE_LENGTH:
        return split
    listed = "".join(f"        {member},\n" for member in members)
    return f"    domain.name: domain\n    for domain in (\n{listed}    )"


def scaffold(root: Path, plan: DomainPlan) -> list[Path]:
    """Write the domain's files and its unit tests under ``root`` and register it there."""
    registry = root / REGISTRY
    if not registry.is_file():
        raise ScaffoldError(f"{registry} is missing: run new-domain from the project's root")
    folder = root / "domains" / plan.name
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already")
    files = render_domain(plan)
    registered = register(registry.read_text(), plan.name)
    written = []
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    registry.write_text(registered)
    return [*written, registry]


def tidy(root: Path, paths: Sequence[Path]) -> bool:
    """Sort imports and format ``paths`` with the project's ruff, when it is installed.

    The templates are laid out as ruff would lay them out; this only matters for long names.
    False when there is no ruff to run.
    """
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return False
    files = [str(path) for path in paths]
    for arguments in (["check", "--fix", "--select", "I", "--quiet"], ["format", "--quiet"]):
        subprocess.run([ruff, *arguments, *files], cwd=root, check=False, capture_output=True)
    return True
