"""The orders domain's workflows: accept a placed order; close it as completed once shipped, or
as cancelled when stock, payment or shipping fails."""

from domains.inventory.events import StockReservationFailed
from domains.orders.events import (
    CancelOrder,
    CompleteOrder,
    OrderAccepted,
    OrderCancelled,
    OrderCompleted,
    OrderPlaced,
    OrderRejected,
    RegisterOrder,
    RejectOrder,
)
from domains.payments.events import PaymentFailed
from domains.shipping.events import ShipmentBooked, ShipmentFailed
from orchestrators import Step, Workflow

accept_order = Workflow(
    name="accept_order",
    triggers=(OrderPlaced,),
    steps=(
        Step("register", service="order_book", command=RegisterOrder, compensation=RejectOrder),
    ),
    completed=OrderAccepted,
    failed=OrderRejected,
)

complete_order = Workflow(
    name="complete_order",
    triggers=(ShipmentBooked,),
    steps=(Step("complete", service="order_book", command=CompleteOrder),),
    completed=OrderCompleted,
)

cancel_order = Workflow(
    name="cancel_order",
    triggers=(StockReservationFailed, PaymentFailed, ShipmentFailed),
    steps=(Step("cancel", service="order_book", command=CancelOrder),),
    completed=OrderCancelled,
)

workflows = (accept_order, complete_order, cancel_order)
