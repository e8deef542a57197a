"""The workflow model and the two patterns that run it (orchestration, choreography).

Domains import the model from here: ``Workflow``, ``Step``, ``FaultRetry``, ``Refused``,
``WaitFor``, ``Domain``, the contract bases.
"""

from messaging.contracts import Command, Event, FlowEnd, Reply
from messaging.rpc import Refused
from orchestrators.domain import Domain
from orchestrators.workflow import FaultRetry, Pattern, Step, WaitFor, Workflow

__all__ = [
    "Command",
    "Domain",
    "Event",
    "FaultRetry",
    "FlowEnd",
    "Pattern",
    "Refused",
    "Reply",
    "Step",
    "WaitFor",
    "Workflow",
]
