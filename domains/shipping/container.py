"""Wires the shipping domain to its infrastructure, and registers it."""

from dependency_injector import containers, providers

from domains.shipping import repository
from domains.shipping.events import ShipmentBooked, ShipmentFailed
from domains.shipping.services import Courier, LabelPrinter, RateCard
from domains.shipping.workflow import workflows
from orchestrators import Domain
from orchestrators.state.database import Database


class ShippingContainer(containers.DeclarativeContainer):
    """The shipping domain's objects; ``database`` is given by the application."""

    config = providers.Configuration(default={"base_cost_cents": 500, "per_item_cents": 100})
    database = providers.Dependency(instance_of=Database)

    shipments = providers.Singleton(repository.SqlShipmentStore, database)
    rates = providers.Singleton(
        RateCard,
        shipments,
        base_cost_cents=config.base_cost_cents.as_int(),
        per_item_cents=config.per_item_cents.as_int(),
    )
    courier = providers.Singleton(Courier, shipments)
    labels = providers.Singleton(LabelPrinter, shipments)
    services = providers.Dict(rates=rates, courier=courier, labels=labels)


domain = Domain(
    name="shipping",
    workflows=workflows,
    publishes=(ShipmentBooked, ShipmentFailed),
    container=ShippingContainer,
)
