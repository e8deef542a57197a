"""The orchestration pattern: a local orchestrator drives a domain's services over RPC."""

from orchestrators.orchestration.orchestrator import CompensationFailed, Orchestrator
from orchestrators.orchestration.start import start

__all__ = ["CompensationFailed", "Orchestrator", "start"]
