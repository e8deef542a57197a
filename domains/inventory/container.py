"""Wires the inventory domain to its infrastructure, and registers it."""

from dependency_injector import containers, providers

from domains.inventory import repository
from domains.inventory.events import (
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from domains.inventory.services import CATALOGUE, StockKeeper
from domains.inventory.workflow import workflows
from orchestrators import Domain
from orchestrators.state.database import Database


class InventoryContainer(containers.DeclarativeContainer):
    """The inventory domain's objects; ``database`` is given by the application."""

    config = providers.Configuration(default={"catalogue": dict(CATALOGUE)})
    database = providers.Dependency(instance_of=Database)

    stock_seeded = providers.Resource(repository.seed_stock, database, config.catalogue)
    ledger = providers.Singleton(repository.SqlStockLedger, database)
    stock = providers.Singleton(StockKeeper, ledger)
    services = providers.Dict(stock=stock)


domain = Domain(
    name="inventory",
    workflows=workflows,
    publishes=(StockReserved, StockReservationFailed, StockReleased, StockCommitted),
    container=InventoryContainer,
)
