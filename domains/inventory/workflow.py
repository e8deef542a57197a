"""The inventory domain's workflows: hold the stock of an accepted order; give it back when
payment or shipping fails; let it go once the courier has it."""

from domains.inventory.events import (
    CommitStock,
    ReleaseStock,
    ReserveStock,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from domains.orders.events import OrderAccepted
from domains.payments.events import PaymentFailed
from domains.shipping.events import ShipmentBooked, ShipmentFailed
from orchestrators import Step, Workflow

reserve_stock = Workflow(
    name="reserve_stock",
    triggers=(OrderAccepted,),
    steps=(Step("reserve", service="stock", command=ReserveStock, compensation=ReleaseStock),),
    completed=StockReserved,
    failed=StockReservationFailed,
)

release_stock = Workflow(
    name="release_stock",
    triggers=(PaymentFailed, ShipmentFailed),
    steps=(Step("release", service="stock", command=ReleaseStock),),
    completed=StockReleased,
)

commit_stock = Workflow(
    name="commit_stock",
    triggers=(ShipmentBooked,),
    steps=(Step("commit", service="stock", command=CommitStock),),
    completed=StockCommitted,
)

workflows = (reserve_stock, release_stock, commit_stock)
