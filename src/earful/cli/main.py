"""`earful`: set up, ingest, inspect and serve."""

from __future__ import annotations

import typer

from earful.cli import (
    bench,
    brands,
    conversations,
    demo,
    ingest,
    listening,
    run,
    serve,
    sources,
    users,
)
from earful.cli import customers as customers_cli
from earful.cli import engagement as engagement_cli
from earful.cli import notify as notify_cli
from earful.cli import outbound as outbound_cli
from earful.cli import retention as retention_cli
from earful.cli import understanding as understanding_cli
from earful.cli import worker as worker_cli

app = typer.Typer(
    name="earful",
    help="Earful: listen to every mention, answer as a team.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("init", help="Create or upgrade the database schema.")(ingest.init)
app.command("ingest", help="Replay a file through the pipeline.")(ingest.ingest)
app.command("serve", help="Serve the web inbox.")(serve.serve)
app.command(
    "run", help="The whole desk in one process: inbox, outbound queue, mail, live sources."
)(run.run)
app.command("demo", help="Load the demo corpus and serve the inbox.")(demo.demo)
app.command("train", help="Train a classifier from ../shared/data.")(understanding_cli.train)
app.command("eval", help="Score a classifier on a labeled TSV.")(understanding_cli.evaluate)
app.command("reclassify", help="Re-label posts of older models.")(understanding_cli.reclassify)
app.command("worker", help="Store batches from the Redis Stream (scale-out).")(worker_cli.worker)
app.command("publish", help="Replay a file into the Redis Stream.")(worker_cli.publish)
app.add_typer(brands.app, name="brands", help="Manage brands.")
app.add_typer(sources.app, name="sources", help="Network sources: add, list, run, health.")
app.add_typer(conversations.app, name="conversations", help="Inspect conversations.")
app.add_typer(customers_cli.app, name="customers", help="A customer's data: export it, erase it.")
app.add_typer(
    retention_cli.app, name="retention", help="Retention: delete or anonymise old conversations."
)
app.add_typer(users.app, name="users", help="Manage agents and their roles.")
app.add_typer(outbound_cli.app, name="outbound", help="Outbound jobs: run the sender, list, retry.")
app.add_typer(
    engagement_cli.app, name="engagement", help="Signatures, thank-you text, compliment rules."
)
app.add_typer(outbound_cli.mail_app, name="mail", help="Inbound email: serve SMTP for answers.")
app.add_typer(notify_cli.app, name="notify", help="A user's notifications: set, show.")
app.add_typer(
    notify_cli.webhooks_app, name="webhooks", help="Event webhooks: add, list, remove, resume."
)
app.add_typer(bench.app, name="bench", help="Measure this box: `earful bench capacity`.")
app.add_typer(listening.app)  # `earful match ...` and `earful queries ...`


if __name__ == "__main__":
    app()
