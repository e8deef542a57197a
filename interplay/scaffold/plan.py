"""What ``interplay new-domain`` is asked for, checked and named: a ``DomainPlan``.

The names come from the step names and one entity (the first step unless given): for billing on
``payments.payment.captured`` with steps ``invoice,send`` the commands are ``InvoiceOrder``
(``billing.order.invoice``) and ``SendInvoice`` (``billing.invoice.send``), each with a reply and
an ``Undo…`` compensation, and the outcomes are ``InvoiceSent`` (``billing.invoice.sent``) and
``InvoiceFailed`` (``billing.invoice.failed``).

Example::

    plan = plan_domain("billing", "payments.payment.captured", ["invoice", "send"], catalog)
    written = scaffold(Path("."), plan)  # interplay.scaffold.project

``code`` turns a plan into source text and ``project`` writes it into the project (``deploy``
adds the domain to the deploy files): both import the plan, and the plan imports neither.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from messaging.contracts import Event
from orchestrators import Pattern

MAX_NAME = 16  # names end up in class names, routing keys and lines of at most 100 characters
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
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
    """``payment_captured`` -> ``PaymentCaptured``: a snake_case name as a class name."""
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
