"""A domain's service classes and what their methods answer, read without building anything.

The reference docs name each service's class, the reply of each command and the typed refusals
a reply can carry; the unit tests build sample replies from the same answers. Nothing here opens
a database or starts the domain's container.
"""

from __future__ import annotations

import inspect
import sys
import typing

from messaging.contracts import Command, Contract
from messaging.rpc import Refused
from orchestrators import Domain


def service_class(domain: Domain, service: str) -> type:
    """The class of ``domain``'s ``service``, read from its container's declarations."""
    # The container's ``services`` is a ``providers.Dict`` of singletons: read the classes
    # without building anything (no database is opened to write docs).
    providers = domain.container.services.kwargs  # type: ignore[attr-defined]
    found: type = providers[service].cls
    return found


def reply_of(service: type, command: type[Command]) -> type[Contract] | None:
    """The reply type of the method of ``service`` that takes ``command``; None if it answers
    nothing."""
    for name, method in inspect.getmembers(service, inspect.iscoroutinefunction):
        hints = typing.get_type_hints(method)
        reply = hints.pop("return", None)
        if not name.startswith("_") and command in hints.values():
            return reply if isinstance(reply, type) and issubclass(reply, Contract) else None
    return None


def refusals(domain: Domain) -> list[str]:
    """The ``Refused`` subclasses of the domain's service modules: what ``error.type`` can say."""
    modules = {sys.modules[service_class(domain, s).__module__] for s in domain.services}
    return sorted(
        name
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Refused) and value is not Refused
    )
