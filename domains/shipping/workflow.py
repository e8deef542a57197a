"""The shipping domain's workflow: once the order is paid, quote it, book a courier, print the
label; cancel what was done when a step fails."""

from domains.payments.events import PaymentCaptured
from domains.shipping.events import (
    BookCourier,
    CancelCourier,
    PrintLabel,
    QuoteShipment,
    ShipmentBooked,
    ShipmentFailed,
    VoidLabel,
)
from orchestrators import Step, Workflow

ship_order = Workflow(
    name="ship_order",
    triggers=(PaymentCaptured,),
    steps=(
        Step("quote", service="rates", command=QuoteShipment),
        Step("book", service="courier", command=BookCourier, compensation=CancelCourier),
        Step("label", service="labels", command=PrintLabel, compensation=VoidLabel),
    ),
    completed=ShipmentBooked,
    failed=ShipmentFailed,
)

workflows = (ship_order,)
