"""The notifications domain's workflow: tell the customer how their order ended."""

from domains.notifications.events import CustomerNotified, NotifyCustomer
from domains.orders.events import OrderCancelled, OrderCompleted, OrderRejected
from orchestrators import Step, Workflow

notify_customer = Workflow(
    name="notify_customer",
    triggers=(OrderCompleted, OrderCancelled, OrderRejected),
    steps=(Step("notify", service="mailer", command=NotifyCustomer),),
    completed=CustomerNotified,
)

workflows = (notify_customer,)
