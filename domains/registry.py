"""The domains this system runs. A new domain is registered here, and nowhere else."""

from domains.inventory.container import domain as inventory
from domains.notifications.container import domain as notifications
from domains.orders.container import domain as orders
from domains.payments.container import domain as payments
from domains.shipping.container import domain as shipping
from orchestrators import Domain

DOMAINS: dict[str, Domain] = {
    domain.name: domain for domain in (orders, inventory, payments, shipping, notifications)
}
