"""The compose stack in real containers, as a user runs it: README's commands, orders, faults.

The tests run in file order on one stack: it comes up by README's "With Docker" commands, takes
an order on every path through the documented `run --rm cli publish ... --follow`, is scraped by
its own Prometheus, survives a domain killed three times and a broker restart under 300 orders,
gives the same outcomes with every domain switched to choreography by its compose variable, and
`down -v` leaves nothing behind. The figures (time to healthy, image sizes, outcomes, recovery
times) are printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aio_pika
import pytest
from packaging.utils import canonicalize_name

from interplay.load.sample_orders import DECLINED, HAPPY, OUT_OF_STOCK, TIMEOUT, UNREACHABLE
from tests.deploy.compose_stack import Stack, build_images, readme_commands, report
from tests.deploy.deploy_harness import DOMAINS, REPO, as_runnable_query, dashboard_queries
from tests.deploy.fault_run import TERMINAL, run_orders_through_faults
from tests.deploy.live_harness import has_data as result_has_data
from tests.deploy.live_harness import http_text

HEALTHY_WITHIN = 240.0  # seconds from `up` until every service is healthy, on a busy 2-core CI
SERVICES = ("rabbitmq", *DOMAINS, "prometheus")
PATHS = {
    HAPPY: {},
    DECLINED: {"card_token": "tok_declined"},
    TIMEOUT: {"card_token": "tok_timeout"},
    OUT_OF_STOCK: {"items": [{"sku": "SKU-SOLD-OUT", "quantity": 1, "unit_price_cents": 1250}]},
    UNREACHABLE: {"shipping_country": "AQ"},
}
PLACED = "orders.order.placed"
IMAGE_VARIABLES = (
    "INTERPLAY_IMAGE",
    "INTERPLAY_PYTHON_IMAGE",
    "INTERPLAY_RABBITMQ_IMAGE",
    "INTERPLAY_PROMETHEUS_IMAGE",
)
EVENT_LINE = re.compile(r"\+\s*[0-9.]+s\s+(\S+)\s+from\s")
pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture(scope="module")
def stack(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(engine, tmp_path_factory.mktemp("compose"))
    build_images(engine)  # once before the README's own line, so that its time is the stack's
    yield stack
    if any(stack.leftovers().values()):  # a test failed before `down -v`
        stack.compose("down", "-v", "--remove-orphans")


def documented(step: str) -> str:
    """README's command that contains ``step``."""
    found = [command for command in readme_commands() if step in command]
    assert len(found) == 1, f"README's With Docker section needs one command with {step!r}"
    return found[0]


def run_documented(stack: Stack, command: str, timeout: float = 300) -> str:
    result = stack.shell(command, timeout)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_readme_commands_bring_the_stack_up_and_every_service_is_healthy(stack: Stack) -> None:
    commands = readme_commands()
    up = documented(" up -d")
    for command in commands[: commands.index(up)]:
        run_documented(stack, command, timeout=1200)
    stack.choose_free_ports()  # beside the host's own RabbitMQ; README says how to move ports
    started = time.monotonic()
    run_documented(stack, up)
    healthy = stack.wait_healthy(SERVICES, HEALTHY_WITHIN) + (time.monotonic() - started)
    report(f"stack healthy {healthy:.1f} s after `up -d` (bound {HEALTHY_WITHIN:.0f} s)")
    listing = run_documented(stack, documented(" ps"))
    assert all(service in listing for service in SERVICES), listing


LIST_PACKAGES = (
    "import importlib.metadata as m; "
    "print('\\n'.join(sorted(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions())))"
)


def test_the_image_holds_exactly_the_pinned_packages_and_says_its_version(stack: Stack) -> None:
    image = stack.client.images.get(stack.variables()["INTERPLAY_IMAGE"])
    labels = image.labels
    assert labels["org.opencontainers.image.revision"] not in ("", "unknown"), labels
    assert labels["org.opencontainers.image.version"] not in ("", "0.0.0+unknown"), labels
    # Not `remove=True`: that would leave the anonymous volume of the image's VOLUME /data behind.
    container = stack.client.containers.run(
        image, ["-c", LIST_PACKAGES], entrypoint="python", detach=True
    )
    container.wait(timeout=60)
    listed = container.logs().decode()
    container.remove(v=True)
    installed = {canonical(line) for line in listed.split() if not line.startswith("interplay==")}
    constraints = (REPO / "deploy" / "constraints.txt").read_text().split()
    pinned = {canonical(line) for line in constraints if "==" in line}
    assert installed == pinned, (
        f"image only: {installed - pinned}; pinned only: {pinned - installed}"
    )
    sizes = {
        name: f"{stack.client.images.get(stack.variables()[name]).attrs['Size'] / 1e6:.0f} MB"
        for name in IMAGE_VARIABLES
    }
    report(f"image sizes: {sizes}")


def canonical(pin: str) -> str:
    name, version = pin.split("==")
    return f"{canonicalize_name(name)}=={version}"


def test_neither_a_domain_nor_the_operator_can_forge_another_domains_event(stack: Stack) -> None:
    for user in ("orders", "operator"):
        refusal = asyncio.run(publish(stack.amqp_url(user), "payments.payment.captured"))
        assert "ACCESS_REFUSED" in refusal, (user, refusal)


async def publish(url: str, routing_key: str, body: bytes = b"{}") -> str:
    """Publish with confirms on interplay.events; what the broker said."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("interplay.events", ensure=False)
        message = aio_pika.Message(body, content_type="application/json", type=routing_key)
        try:
            await exchange.publish(message, routing_key=routing_key)
        except aio_pika.exceptions.AMQPError as error:
            return f"{type(error).__name__}: {error}"
    return "published"


def publish_and_follow(stack: Stack, path: str, follow: bool = True) -> list[str]:
    """The README's publish command with the order changed to take ``path``; the events seen
    (none without ``follow``)."""
    return EVENT_LINE.findall(followed(stack, path, follow))


def followed(stack: Stack, path: str, follow: bool = True) -> str:
    """What the README's publish command printed, its order changed to take ``path``."""
    command = documented(" publish ")
    data = json.loads(re.search(r"--data '(.*?)'", command, re.S).group(1))  # type: ignore[union-attr]
    data |= PATHS[path] | {"order_id": str(uuid.uuid4())}  # an order id is taken only once
    command = re.sub(r"--data '.*?'", lambda _: f"--data '{json.dumps(data)}'", command, flags=re.S)
    if not follow:
        command = command.replace(" --follow", "")
    return run_documented(stack, command, timeout=120)


def outcomes_of_every_path(stack: Stack) -> dict[str, list[str]]:
    with ThreadPoolExecutor(len(PATHS)) as pool:
        events_seen = pool.map(lambda path: publish_and_follow(stack, path), PATHS)
        seen = dict(zip(PATHS, events_seen, strict=True))
    for path, events in seen.items():
        expected = "orders.order.completed" if path == HAPPY else "orders.order.cancelled"
        assert expected in events, (path, events)
        assert "notifications.customer.notified" in events, (path, events)
    return {path: sorted(events) for path, events in seen.items()}


ORCHESTRATED: dict[str, list[str]] = {}


def test_an_order_on_every_path_flows_through_the_documented_publish_follow(stack: Stack) -> None:
    ORCHESTRATED.update(outcomes_of_every_path(stack))
    outcomes = {path: next(e for e in seen if e in TERMINAL) for path, seen in ORCHESTRATED.items()}
    report(f"orders through `run --rm cli publish --follow`: {outcomes}")


def test_the_operator_asks_every_domain_where_its_order_stands(stack: Stack) -> None:
    """`flows show`, `trace` and `flows list --stuck` by `run --rm cli`, as the operator: every
    domain answers over the broker, its database private to its own container."""
    found = re.search(r"correlation id (\S+)", followed(stack, HAPPY))
    assert found is not None
    asked = {
        name: json.loads(stack.compose("run", "--rm", "cli", *command, "--json").stdout)
        for name, command in (
            ("show", ["flows", "show", found[1]]),
            ("trace", ["trace", found[1]]),
            ("stuck", ["flows", "list", "--stuck"]),
        )
    }
    assert all(document["unanswered"] == {} for document in asked.values()), asked
    runs = asked["show"]["runs"]
    assert {run["domain"] for run in runs} == set(DOMAINS)
    assert {run["status"] for run in runs} == {"completed"}
    assert {hop["consumer"].split(".")[0] for hop in asked["trace"]["hops"]} == set(DOMAINS)
    report(
        f"`run --rm cli flows show`: {len(runs)} runs from {len(DOMAINS)} domains, "
        f"`trace`: {len(asked['trace']['hops'])} hops, stuck flows: {len(asked['stuck']['flows'])}"
    )


def prometheus(stack: Stack, path: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(http_text(stack.url("INTERPLAY_PROMETHEUS_PORT", path)))
    return body


def test_prometheus_scrapes_every_target_loads_the_rules_and_every_panel_has_data(
    stack: Stack,
) -> None:
    # An order no contract accepts, as the operator may send: the orders inbox dead-letters it.
    malformed = asyncio.run(publish(stack.amqp_url("operator"), PLACED, b'{"order_id": 42}'))
    assert malformed == "published"
    # An order nobody follows: its leaf events (customer.notified, ...) reach no queue, since no
    # watch queue is bound to every key now, and their publishers count them unrouted.
    publish_and_follow(stack, HAPPY, follow=False)
    pending, deadline = list(dashboard_queries()), time.monotonic() + 90
    while time.monotonic() < deadline:
        targets = prometheus(stack, "/api/v1/targets")["data"]["activeTargets"]
        down = [(t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"]
        pending = [(title, expr) for title, expr in pending if not has_data(stack, expr)]
        if not down and not pending:
            break
        time.sleep(3)
    assert len(targets) == 7 and down == [], down
    assert pending == [], "panels without data:\n" + "\n".join(f"{t}: {e}" for t, e in pending)
    groups = prometheus(stack, "/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 7 and all(rule["health"] == "ok" for rule in rules), rules


def has_data(stack: Stack, expr: str) -> bool:
    query = urllib.parse.urlencode({"query": as_runnable_query(expr)})
    body = prometheus(stack, f"/api/v1/query?{query}")
    return result_has_data(body["data"]["result"])


def test_300_orders_survive_a_domain_killed_three_times_and_a_broker_restart(stack: Stack) -> None:
    faults = asyncio.run(run_orders_through_faults(stack, orders=300, victim="payments"))
    report(faults.summary())
    assert faults.lost == [] and faults.doubled == [], faults.summary()
    assert faults.not_terminal == [], faults.summary()
    assert len(faults.kills) == 3 and faults.broker_restart is not None


def test_each_domain_switched_to_choreography_by_its_variable_gives_the_same_outcomes(
    stack: Stack,
) -> None:
    assert ORCHESTRATED, "needs the orchestrated outcomes of the test above"
    stack.set(**{f"{domain.upper()}_PATTERN": "choreography" for domain in DOMAINS})
    stack.compose("up", "-d", *DOMAINS)
    stack.wait_healthy(DOMAINS, HEALTHY_WITHIN)
    for domain in DOMAINS:
        environment = stack.container(domain).attrs["Config"]["Env"]
        assert f"INTERPLAY_{domain.upper()}_PATTERN=choreography" in environment
    assert outcomes_of_every_path(stack) == ORCHESTRATED


def test_down_v_leaves_no_container_network_or_volume(stack: Stack) -> None:
    run_documented(stack, documented(" down -v"))
    assert stack.leftovers() == {"containers": [], "networks": [], "volumes": []}
