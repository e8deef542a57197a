"""Wires the orders domain to its infrastructure, and registers it."""

from dependency_injector import containers, providers

from domains.orders import repository
from domains.orders.events import OrderAccepted, OrderCancelled, OrderCompleted, OrderRejected
from domains.orders.services import OrderBook
from domains.orders.workflow import workflows
from orchestrators import Domain
from orchestrators.state.database import Database


class OrdersContainer(containers.DeclarativeContainer):
    """The orders domain's objects; ``database`` is given by the application."""

    config = providers.Configuration()  # the order book has no settings yet
    database = providers.Dependency(instance_of=Database)

    store = providers.Singleton(repository.SqlOrderStore, database)
    order_book = providers.Singleton(OrderBook, store)
    services = providers.Dict(order_book=order_book)


domain = Domain(
    name="orders",
    workflows=workflows,
    publishes=(OrderAccepted, OrderRejected, OrderCompleted, OrderCancelled),
    container=OrdersContainer,
)
