"""Wires the payments domain to its infrastructure, and registers it."""

from dependency_injector import containers, providers

from domains.payments import repository
from domains.payments.events import PaymentCaptured, PaymentFailed, PaymentRefunded
from domains.payments.services import PaymentGateway
from domains.payments.workflow import workflows
from orchestrators import Domain
from orchestrators.state.database import Database


class PaymentsContainer(containers.DeclarativeContainer):
    """The payments domain's objects; ``database`` is given by the application."""

    config = providers.Configuration(default={"hang_seconds": 30.0})
    database = providers.Dependency(instance_of=Database)

    ledger = providers.Singleton(repository.SqlPaymentLedger, database)
    gateway = providers.Singleton(
        PaymentGateway, ledger, hang_seconds=config.hang_seconds.as_float()
    )
    services = providers.Dict(gateway=gateway)


domain = Domain(
    name="payments",
    workflows=workflows,
    publishes=(PaymentCaptured, PaymentFailed, PaymentRefunded),
    container=PaymentsContainer,
)
