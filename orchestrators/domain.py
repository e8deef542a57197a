"""What a domain registers with the framework, and how its services' commands are found."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from messaging.contracts import Command, Contract, Event
from orchestrators.state.database import Database
from orchestrators.workflow import Workflow

CommandHandler = Callable[[Any], Awaitable[Any]]


class DomainContainer(Protocol):
    """What the application needs of a domain's dependency-injector container (``container.py``).

    Each attribute is a provider: the application composes the container in as
    ``providers.Container(DomainsContainer, database=...)``, so ``database`` must be declared as
    ``providers.Dependency(instance_of=Database)``; ``config`` takes the domain's slice of the
    settings; ``services`` gives service name -> service object; the container's resources (such as
    inventory's stock, seeded) are initialised before any service runs, once the framework has
    migrated the domain's database (``Domain.migrations``).
    """

    @property
    def config(self) -> Any: ...  # providers.Configuration

    @property
    def database(self) -> Callable[[], Database]: ...  # providers.Dependency(instance_of=...)

    @property
    def services(self) -> Callable[[], Mapping[str, object]]: ...  # providers.Dict, by name


@dataclass(frozen=True, slots=True)
class Domain:
    """A domain as the framework sees it.

    ``container`` is the domain's dependency-injector container class (``DomainContainer``).
    """

    name: str
    workflows: tuple[Workflow, ...]
    publishes: tuple[type[Event], ...]
    container: type[DomainContainer]

    @property
    def migrations(self) -> Path:
        """The folder of the domain's own schema revisions: ``migrations/`` beside its
        ``container.py``, so that a copied domain brings them (``orchestrators.state.schema``)."""
        return Path(inspect.getfile(self.container)).parent / "migrations"

    @property
    def consumes(self) -> tuple[type[Event], ...]:
        """The events of other domains (or of the outside) that trigger this one's workflows,
        and those its steps wait for."""
        triggers = (trigger for workflow in self.workflows for trigger in workflow.triggers)
        awaited = (event for workflow in self.workflows for event in workflow.awaited)
        return tuple(dict.fromkeys((*triggers, *awaited)))

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for workflow in self.workflows for s in workflow.services))

    def commands(self, service: str | None = None) -> tuple[type[Command], ...]:
        """The commands (and compensations) sent to ``service``, or to any of its services."""
        found: list[type[Command]] = []
        for workflow in self.workflows:
            for step in workflow.steps:
                if service is None or step.service == service:
                    found.append(step.command)
                    if step.compensation is not None:
                        found.append(step.compensation)
        return tuple(dict.fromkeys(found))

    def contracts(self) -> tuple[type[Contract], ...]:
        return (*self.publishes, *self.consumes, *self.commands())


def command_handlers(service: object) -> dict[type[Command], CommandHandler]:
    """Map each command type to the method of ``service`` that takes it.

    A handler is a public async method with one parameter annotated with a ``Command`` subclass,
    so a service stays a plain class::

        class PaymentGateway:
            async def authorise(self, command: AuthorisePayment) -> PaymentAuthorised: ...
    """
    handlers: dict[type[Command], CommandHandler] = {}
    for name, method in inspect.getmembers(service, inspect.iscoroutinefunction):
        if name.startswith("_"):
            continue
        parameters = list(inspect.signature(method).parameters.values())
        if len(parameters) != 1:
            continue
        annotation = typing.get_type_hints(method).get(parameters[0].name)
        if isinstance(annotation, type) and issubclass(annotation, Command):
            if annotation in handlers:
                raise ValueError(f"{type(service).__name__} has two handlers of {annotation}")
            handlers[annotation] = method
    return handlers
