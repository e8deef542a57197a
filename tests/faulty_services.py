"""Test doubles of services with faults, injected through the domain containers' providers.

A *fault* is an unexpected exception (not a ``Refused``): the gateway's database away for a
moment, or a bug. ``FaultyGateway`` is the real payments gateway, except that capturing the
payment of an order whose id says so raises: twice and then no more (``flaky``), or every time
(``broken``). Both patterns must try the step again and then give it up the same way.

Example::

    async with running_system(url, data_dir, patterns, prepare=with_faulty_gateway):
        ...
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dependency_injector import providers

from domains.orders.events import OrderPlaced
from domains.payments.events import CapturePayment, PaymentCaptureRecorded
from domains.payments.services import PaymentGateway, PaymentLedger
from interplay.bootstrap import Application
from interplay.load.sample_orders import HAPPY, order

FLAKY, BROKEN = "flaky", "broken"
FLAKY_FAILURES = 2  # fewer than a step's default FaultRetry.attempts (3)


class FaultyGateway(PaymentGateway):
    """The payments gateway, with a capture that raises for flaky and broken orders."""

    def __init__(self, ledger: PaymentLedger, hang_seconds: float = 30.0) -> None:
        super().__init__(ledger, hang_seconds)
        self.faults: Counter[str] = Counter()

    async def capture(self, command: CapturePayment) -> PaymentCaptureRecorded:
        order_id = command.order_id
        if order_id.startswith(f"ord-{BROKEN}-") or (
            order_id.startswith(f"ord-{FLAKY}-") and self.faults[order_id] < FLAKY_FAILURES
        ):
            self.faults[order_id] += 1
            raise ConnectionError(f"the gateway's database is away ({self.faults[order_id]})")
        return await super().capture(command)


def with_faulty_gateway(application: Application) -> None:
    """Override the payments container's gateway with a ``FaultyGateway``."""
    payments: Any = application.payments  # composed in by name, so untyped
    payments.gateway.override(
        providers.Singleton(
            FaultyGateway, payments.ledger, hang_seconds=payments.config.hang_seconds.as_float()
        )
    )


def faulty_order(kind: str, number: int = 0) -> OrderPlaced:
    """A good order whose capture is ``flaky`` or ``broken`` under ``FaultyGateway``."""
    placed = order(HAPPY, number)
    return placed.model_copy(update={"order_id": placed.order_id.replace(HAPPY, kind, 1)})
