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
from interplay.scaffold.plan import ScaffoldError, past_tense, plan_domain
from interplay.scaffold.project import register, scaffold, tidy
from orchestrators import Pattern

CATALOG = event_catalog()
ROOT = Path(__file__).parents[2]
HOWTO = ROOT / "docs" / "howto" / "add-a-domain.md"
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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root with what ``scaffold`` and ``tidy`` read: the registry and ruff's settings."""
    for name in ("pyproject.toml", "domains/registry.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())
    return tmp_path


def test_the_howto_shows_the_code_the_generator_writes(project: Path) -> None:
    plan = plan_domain("billing", "payments.payment.captured", ["invoice", "send"], CATALOG)
    written = scaffold(project, plan)
    assert tidy(project, written)
    generated = "\n".join(path.read_text() for path in written)
    blocks = re.findall(r"```python\n(.*?)```", HOWTO.read_text(), re.S)

    assert len(blocks) == 3
    for block in blocks:
        assert block in generated


@pytest.mark.parametrize("steps", [["invoice"], ["invoice", "send", "remind"]])
def test_the_written_domain_is_laid_out_as_ruff_wants_it(project: Path, steps: list[str]) -> None:
    plan = plan_domain("billing", "orders.order.cancelled", steps, CATALOG)
    written = scaffold(project, plan)
    assert tidy(project, written)

    ruff = str(Path(sys.executable).with_name("ruff"))
    for check in (["check", "--select", "I,E,F,W"], ["format", "--check"]):
        linted = subprocess.run(
            [ruff, *check, *map(str, written)],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert linted.returncode == 0, linted.stdout


REGISTRY = '''"""The domains."""

from domains.orders.container import domain as orders
from domains.payments.container import domain as payments
from orchestrators import Domain

DOMAINS: dict[str, Domain] = {
    domain.name: domain for domain in (orders, payments)
}
'''


def test_registering_imports_the_domain_and_puts_it_last() -> None:
    registered = register(REGISTRY, "billing")

    assert "from domains.billing.container import domain as billing\n" in registered
    assert "    domain.name: domain for domain in (orders, payments, billing)\n}" in registered


@pytest.mark.parametrize("added", [1, 4], ids=["one", "enough to need a line each"])
def test_a_registry_ruff_has_laid_out_takes_more_domains(project: Path, added: int) -> None:
    registry = project / "domains" / "registry.py"
    before = registry.read_text().count("from domains.")
    for number in range(added):
        registry.write_text(register(registry.read_text(), f"domain{number:02}"))
        assert tidy(project, [registry])

    registered = registry.read_text()
    imports = [line for line in registered.splitlines() if line.startswith("from domains.")]
    assert imports == sorted(imports) and len(imports) == before + added
    assert register(registered, "domain99").count(" domain99") == 2  # imported, and in DOMAINS


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
