"""``interplay broker``: make sure a broker is reachable; write its least-privilege definitions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console

from domains.registry import DOMAINS
from interplay.broker import definitions
from interplay.broker import local as local_broker
from interplay.settings import Settings

app = typer.Typer(help="The RabbitMQ broker.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("ensure")
def ensure() -> None:
    """Make sure RabbitMQ is reachable: use it, start it in Docker, or start the local server."""
    url = Settings().amqp_url.get_secret_value()
    try:
        how = local_broker.ensure(url)
    except local_broker.BrokerUnavailable as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(3) from error
    console.print(f"RabbitMQ is reachable ({how})")


@app.command("definitions")
def write_definitions(
    vhost: str = typer.Option("/", help="The vhost the users get their permissions on."),
    password_env_prefix: str = typer.Option(
        "", help="Passwords come from <PREFIX><USER>_PASSWORD, e.g. PAYMENTS_PASSWORD."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    without_passwords: bool = typer.Option(
        False,
        "--without-passwords",
        help="Leave every password_hash empty, for a deploy step that fills them in.",
    ),
    storefront: bool = typer.Option(True, help="Add the storefront user (places orders)."),
    operator: bool = typer.Option(
        False,
        help="Add the operator user (places orders, watches them with --follow, and asks the "
        "domains about their flows: flows, trace).",
    ),
    admin: bool = typer.Option(True, help="Add the admin user (management UI)."),
) -> None:
    """Write RabbitMQ definitions: a user per domain limited to its own names and events."""
    users = definitions.broker_users(
        DOMAINS.values(), storefront=storefront, operator=operator, admin=admin
    )
    try:
        passwords = (
            None
            if without_passwords
            else definitions.passwords_from(os.environ, users, password_env_prefix)
        )
    except definitions.MissingPasswords as error:
        console.print(f"[red]error:[/red] {error}; nothing was written")
        raise typer.Exit(2) from error
    text = json.dumps(definitions.definitions(users, vhost=vhost, passwords=passwords), indent=2)
    if output is None:
        print(text)
        return
    output.write_text(text + "\n")
    # Password hashes are secrets too: only the owner may read them.
    output.chmod(0o644 if passwords is None else 0o600)
    console.print(f"wrote {output}: users {', '.join(user.name for user in users)}")
