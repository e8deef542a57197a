"""The payments domain's workflows: take the payment once stock is held; refund it when the
order cannot be shipped."""

from domains.inventory.events import StockReserved
from domains.payments.events import (
    AuthorisePayment,
    CapturePayment,
    PaymentCaptured,
    PaymentFailed,
    PaymentRefunded,
    RefundPayment,
    VoidPayment,
)
from domains.shipping.events import ShipmentFailed
from orchestrators import Step, Workflow

take_payment = Workflow(
    name="take_payment",
    triggers=(StockReserved,),
    steps=(
        Step("authorise", service="gateway", command=AuthorisePayment, compensation=VoidPayment),
        Step("capture", service="gateway", command=CapturePayment, compensation=RefundPayment),
    ),
    completed=PaymentCaptured,
    failed=PaymentFailed,
)

refund_payment = Workflow(
    name="refund_payment",
    triggers=(ShipmentFailed,),
    steps=(Step("refund", service="gateway", command=RefundPayment),),
    completed=PaymentRefunded,
)

workflows = (take_payment, refund_payment)
