"""What a domain answers an operator over the broker: where its flows stand, the hops its queues
handled, its flows that do not end, and an operator's resume and abort of one flow.

Every process of a domain serves its operations queue (``server``), so the command line works
wherever the broker is reachable, whatever the databases (``interplay flows``, ``interplay
trace``).
"""

from orchestrators.operations.server import serve_operations

__all__ = ["serve_operations"]
