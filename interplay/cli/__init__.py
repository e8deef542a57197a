"""The ``interplay`` command line."""

import typer

from interplay.cli import broker, contracts, flows, publish, run
from interplay.cli import database as database_cli
from interplay.cli import dlq as dlq_cli
from interplay.cli import documents as documents_cli
from interplay.cli import load as load_cli
from interplay.cli import scaffold as scaffold_cli
from interplay.cli import trace as trace_cli

app = typer.Typer(
    name="interplay",
    help="Hybrid microservices on RabbitMQ: run domains, publish events, watch flows.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("run")(run.run)
app.command("publish")(publish.publish)
app.command("events")(contracts.events)
app.add_typer(broker.app, name="broker")
app.add_typer(flows.app, name="flows")
app.add_typer(database_cli.app, name="db")
app.command("new-domain")(scaffold_cli.new_domain)
app.command("load")(load_cli.load)
app.command("trace")(trace_cli.trace)
app.command("asyncapi")(documents_cli.asyncapi)
app.command("cli-reference")(documents_cli.cli_reference)
app.add_typer(dlq_cli.app, name="dlq")
app.command("docs")(documents_cli.docs)
