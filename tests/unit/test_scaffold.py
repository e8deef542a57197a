"""``interplay new-domain`` without a broker: the names it chooses, what it refuses, and how it
edits the registry and the deploy files (as text, keeping what is around them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from domains.payments.events import PaymentCaptured
from interplay.cli.contracts import event_catalog
from interplay.scaffold.code import render_domain
from interplay.scaffold.deploy import clone_entries
from interplay.scaffold.plan import ScaffoldError, past_tense, plan_domain, register
from orchestrators import Pattern

CATALOG = event_catalog()
HOWTO = Path(__file__).parents[2] / "docs" / "howto" / "add-a-domain.md"
EXISTING = ["orders", "payments"]


def test_billing_on_a_captured_payment_reads_as_the_business_does() -> None:
    plan = plan_domain("billing", "payments.payment.captured", ["invoice", "send"], CATALOG)

    assert (plan.completed, plan.completed_key) == ("InvoiceSent", "billing.invoice.sent")
    assert (plan.failed, plan.failed_key) == ("InvoiceFailed", "billing.invoice.failed")
    invoice, send = plan.steps
    assert (invoice.command, invoice.command_key) == ("InvoiceOrder", "billing.order.invoice")
    assert (send.command, send.command_key) == ("SendInvoice", "billing.invoice.send")
    assert (send.recorded, send.undo) == ("SendRecorded", "UndoSend")
    assert plan.trigger is PaymentCaptured
    assert plan.workflow == "on_payment_captured"


@pytest.mark.parametrize(
    ("verb", "done"),
    [("send", "sent"), ("issue", "issued"), ("notify", "notified"), ("book", "booked")],
)
def test_outcomes_are_named_in_the_past_tense(verb: str, done: str) -> None:
    assert past_tense(verb) == done


@pytest.mark.parametrize(
    ("name", "trigger", "steps", "complaint"),
    [
        ("Billing", "payments.payment.captured", ["invoice"], "snake_case"),
        ("class", "payments.payment.captured", ["invoice"], "keyword"),
        ("payments", "payments.payment.captured", ["invoice"], "exists already"),
        ("billing", "payments.payment.taken", ["invoice"], "payments.payment.captured"),
        ("billing", "payments.payment.captured", [], "at least one step"),
        ("billing", "payments.payment.captured", ["send", "send"], "repeat"),
        ("billing", "payments.payment.captured", ["send-it"], "snake_case"),
    ],
)
def test_a_request_that_cannot_make_a_domain_is_refused_with_the_reason(
    name: str, trigger: str, steps: list[str], complaint: str
) -> None:
    with pytest.raises(ScaffoldError, match=complaint):
        plan_domain(name, trigger, steps, CATALOG, existing=EXISTING)


def test_every_command_takes_the_order_id_and_what_the_trigger_carries() -> None:
    plan = plan_domain("billing", "payments.payment.captured", ["invoice", "send"], CATALOG)
    events = render_domain(plan)["domains/billing/events.py"]

    assert "from domains.orders.events import OrderLine" in events
    assert events.count("    items: tuple[OrderLine, ...]\n") == 2  # one per step's command
    assert 'message_type: ClassVar[str] = "billing.invoice.sent"' in events


def test_the_howto_shows_the_code_the_generator_writes() -> None:
    plan = plan_domain("billing", "payments.payment.captured", ["invoice", "send"], CATALOG)
    generated = "\n".join(render_domain(plan).values())
    blocks = re.findall(r"```python\n(.*?)```", HOWTO.read_text(), re.S)

    assert len(blocks) == 3
    for block in blocks:
        assert block in generated


REGISTRY = '''"""The domains."""

from domains.orders.container import domain as orders
from domains.payments.container import domain as payments
from orchestrators import Domain

DOMAINS: dict[str, Domain] = {
    domain.name: domain for domain in (orders, payments)
}
'''


def test_registering_adds_the_import_in_order_and_the_domain_last() -> None:
    registered = register(REGISTRY, "billing")

    assert registered.splitlines()[2] == "from domains.billing.container import domain as billing"
    assert "    domain.name: domain for domain in (orders, payments, billing)\n}" in registered


@pytest.mark.parametrize("added", [1, 3], ids=["domains on one line", "one per line"])
def test_the_registry_stays_as_ruff_format_lays_it_out(added: int) -> None:
    registered = (Path(__file__).parents[2] / "domains" / "registry.py").read_text()
    for number in range(added):
        registered = register(registered, f"domain{number:02}")

    ruff = Path(sys.executable).with_name("ruff")
    formatted = subprocess.run(
        [str(ruff), "format", "--line-length", "100", "-"],
        input=registered,
        capture_output=True,
        text=True,
        check=True,
    )
    assert formatted.stdout == registered
    assert ("\n        domain00,\n" in registered) == (added == 3)


COMPOSE = """services:
  rabbitmq-definitions:
    environment:
      NOTIFICATIONS_PASSWORD: ${NOTIFICATIONS_PASSWORD:-notifications-dev-only}

  notifications:
    command: ["run", "notifications"]
    environment:
      INTERPLAY_NOTIFICATIONS_PATTERN: ${NOTIFICATIONS_PATTERN:-orchestration}
    volumes:
      - notifications-data:/data

  prometheus:
    image: prom/prometheus
# notifications mailer, a comment that stays alone
volumes:
  notifications-data:
"""


def test_deploy_files_get_a_copy_of_the_model_domains_entries() -> None:
    edited, added = clone_entries(COMPOSE, "notifications", "billing", Pattern.CHOREOGRAPHY)

    assert "      BILLING_PASSWORD: ${BILLING_PASSWORD:-billing-dev-only}" in added
    assert (
        '      - notifications-data:/data\n\n  billing:\n    command: ["run", "billing"]\n'
        in edited
    )
    assert "INTERPLAY_BILLING_PATTERN: ${BILLING_PATTERN:-choreography}" in edited
    assert edited.endswith("  notifications-data:\n  billing-data:\n")
    assert edited.count("notifications mailer") == 1
    assert "\n\n  prometheus:" in edited
