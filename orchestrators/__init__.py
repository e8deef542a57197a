"""The workflow model and the two patterns that run it (orchestration, choreography).

Domains import the model from here: ``Workflow``, ``Step``, ``Refused``, ``Domain``, the
contract bases.
"""

from messaging.contracts import Command, Event, FlowEnd, Reply
from messaging.rpc import Refused
from orchestrators.domain import Domain
from orchestrators.workflow import Pattern, Step, Workflow

__all__ = [
    "Command",
    "Domain",
    "Event",
    "FlowEnd",
    "Pattern",
    "Refused",
    "Reply",
    "Step",
    "Workflow",
]
