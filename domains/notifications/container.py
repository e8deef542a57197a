"""Wires the notifications domain to its infrastructure, and registers it."""

from dependency_injector import containers, providers

from domains.notifications import repository
from domains.notifications.events import CustomerNotified
from domains.notifications.services import Mailer
from domains.notifications.workflow import workflows
from orchestrators import Domain
from orchestrators.state.database import Database


class NotificationsContainer(containers.DeclarativeContainer):
    """The notifications domain's objects; ``database`` is given by the application."""

    config = providers.Configuration(default={"shop_name": "interplay"})
    database = providers.Dependency(instance_of=Database)

    log = providers.Singleton(repository.SqlNotificationLog, database)
    mailer = providers.Singleton(Mailer, log, shop_name=config.shop_name)
    services = providers.Dict(mailer=mailer)


domain = Domain(
    name="notifications",
    workflows=workflows,
    publishes=(CustomerNotified,),
    container=NotificationsContainer,
)
