"""`earful outbound run/list/retry` and `earful mail serve` (inbound SMTP)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine

from earful.cli.context import console, engine_or_exit, err_console, settings_or_exit
from earful.csat import service as csat
from earful.customers import erasure, retention
from earful.db import transaction
from earful.engagement import acknowledge, shifts
from earful.engagement import repository as repo
from earful.engagement import service as replies
from earful.engagement.limiter import DEFAULT_RULES, Limits
from earful.engagement.worker import OutboundWorker, Summary
from earful.errors import Conflict
from earful.handoff import senders as handoff_senders
from earful.handoff import sync
from earful.handoff.config import HandoffSettings
from earful.models import JobState
from earful.models.base import utcnow
from earful.notifications import dispatch as notify
from earful.notifications import senders as notify_senders
from earful.sources import actors

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

    from earful.handoff.helpdesk import HelpScoutClient, ZendeskClient
    from earful.handoff.mail import InboundHandler

app = typer.Typer(no_args_is_help=True)
mail_app = typer.Typer(no_args_is_help=True)

Database = Annotated[str | None, typer.Option(help="Database URL (default: settings).")]


def _line(s: Summary) -> str:
    return (
        f"claimed {s.claimed}, sent {s.sent}, retrying {s.retried}, failed {s.failed}, "
        f"recovered {s.recovered}"
    )


@dataclass
class Outbound:
    """The outbound worker and the helpdesks it pulls ticket updates from."""

    engine: Engine
    worker: OutboundWorker
    zendesk: ZendeskClient | None
    helpscout: HelpScoutClient | None
    # Signs survey links (the app's secret key) and addresses survey emails.
    secret_key: str = ""
    handoff: HandoffSettings | None = None
    public_url: str = "http://127.0.0.1:8000"  # links in notifications and events


def outbound(engine: Engine, secret_key: str, concurrency: int = 32) -> Outbound:
    """The worker as configured: network actors from the brands' sources, helpdesk senders
    from the handoff settings."""
    handoff = HandoffSettings()
    worker = OutboundWorker(
        engine,
        actors=actors.resolver(engine, secret_key),
        senders={
            **handoff_senders.senders(handoff),
            **notify_senders.senders(handoff, engine, secret_key),
        },
        limits=Limits(dict(DEFAULT_RULES)),
        concurrency=concurrency,
    )
    return Outbound(
        engine, worker, handoff_senders.zendesk(handoff), handoff_senders.helpscout(handoff),
        secret_key, handoff, handoff.public_url,
    )  # fmt: skip


async def outbound_rounds(
    out: Outbound,
    stop: threading.Event,
    *,
    once: bool = False,
    interval: float = 1.0,
    sync_every: float = 60.0,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Round after round (each at ``clock()``): recover stale sends, acknowledge, apply the
    compliment rules, post at the service hours' edges, survey resolved conversations,
    queue notifications and event webhooks (``notifications.dispatch``), send what is due,
    pull ticket updates every ``sync_every`` s; until ``stop`` is set (checked between
    rounds, and the pause between two rounds ends at once) or, with ``once``, after one
    round."""
    engine, worker = out.engine, out.worker
    zendesk, helpscout = out.zendesk, out.helpscout
    last_sync = 0.0
    while True:
        recovered = worker.recover()
        with transaction(engine) as session:
            now = clock()
            acks = acknowledge.acknowledge_waiting(session, now)
            thanks = replies.compliment_round(session, now)
            shifts_queued = shifts.shift_round(session, now)
            surveys = (
                csat.survey_round(session, now, out.secret_key, out.handoff)
                if out.handoff is not None
                else []
            )
            # Each brand's retention window, applied at most hourly (policy.last_run_at).
            kept = retention.run_due(session, now)
            # Erasures a killed `earful customers erase` left half-way.
            finished = erasure.resume_pending(session, now)
            told = notify.notify_round(session, now, out.public_url)
        summary = await worker.drain(idle_s=0.0)
        summary.add(recovered)
        if summary.claimed or summary.recovered or acks or thanks or surveys or shifts_queued:
            console.print(
                _line(summary)
                + (f", acknowledged {len(acks)}" if acks else "")
                + (f", compliment rules queued {len(thanks)}" if thanks else "")
                + (f", surveys queued {len(surveys)}" if surveys else "")
                + (f", sign-on/off posts queued {len(shifts_queued)}" if shifts_queued else "")
            )
        if finished:
            console.print(f"finished {len(finished)} erasure(s) left unfinished")
        for r in kept:
            console.print(
                f"retention {r.brand}: {r.mode} {r.conversations} conversations, {r.posts} posts"
            )
        if told:
            console.print(told.line())
        if (
            sync_every
            and (zendesk or helpscout)
            and (once or time.monotonic() - last_sync >= sync_every)
        ):
            pulled = await sync.pull(engine, zendesk=zendesk, helpscout=helpscout)
            last_sync = time.monotonic()
            if pulled.posts or pulled.notes or once:
                console.print(
                    f"ticket updates: {pulled.posts} posts, {pulled.notes} notes from "
                    f"{pulled.handoffs} handoffs ({pulled.deferred} deferred)"
                )
        if once or stop.is_set():
            return
        await asyncio.to_thread(stop.wait, interval)
        if stop.is_set():
            return


@app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="Drain what is due, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds.", min=0.05)] = 1.0,
    sync_every: Annotated[
        float, typer.Option(help="Seconds between pulls of ticket updates (0: never).", min=0)
    ] = 60.0,
    concurrency: Annotated[int, typer.Option(help="Sends in flight.", min=1)] = 32,
    database: Database = None,
) -> None:
    """Send queued replies, likes, reposts and handoffs; pull helpdesk updates back."""
    settings = settings_or_exit(database)
    engine = engine_or_exit(database)
    out = outbound(engine, settings.secret_key, concurrency)
    stop = threading.Event()
    if not once:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        asyncio.run(outbound_rounds(out, stop, once=once, interval=interval, sync_every=sync_every))
    except KeyboardInterrupt:
        err_console.print("stopped")
    finally:
        engine.dispose()


@app.command("list")
def list_jobs(
    state: Annotated[
        str | None, typer.Option(help=f"Only: {', '.join(s.value for s in JobState)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    database: Database = None,
) -> None:
    """The newest outbound jobs with their state and reason."""
    if state is not None and state not in {s.value for s in JobState}:
        err_console.print(f"[red]error:[/red] --state is one of {', '.join(JobState)}")
        raise typer.Exit(2)
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        rows = [replies.job_view(j) for j in repo.jobs(session, None, state, limit)]
        totals = repo.counts(session)
    table = Table(title="outbound jobs")
    for col in ("id", "kind", "network", "state", "attempts", "created", "result / reason"):
        table.add_column(col)
    for v in rows:
        table.add_row(
            str(v.id), v.kind, v.network, v.state, str(v.attempts),
            f"{v.created_at:%Y-%m-%d %H:%M}", (v.result_url or v.reason or "")[:80],
        )  # fmt: skip
    console.print(table, width=max(console.width, 140))
    console.print(", ".join(f"{k}: {n}" for k, n in sorted(totals.items())) or "no jobs")


@app.command("retry")
def retry(
    job_id: Annotated[int, typer.Argument(help="A failed job's id.")],
    database: Database = None,
) -> None:
    """Send a failed job again (same idempotency key: still at most once)."""
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        job = repo.job(session, job_id, repo.all_brand_ids(session))
        if job is None:
            err_console.print(f"[red]error:[/red] no job {job_id}")
            raise typer.Exit(1)
        try:
            replies.requeue(session, job)
        except Conflict as exc:
            err_console.print(f"[red]error:[/red] job {job_id}: {exc} (it is {job.state.value})")
            raise typer.Exit(1) from None
    console.print(f"job {job_id} queued again")


@app.command("hours")
def set_hours(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    timezone: Annotated[str | None, typer.Option(help="IANA zone, e.g. Europe/Paris.")] = None,
    hours_json: Annotated[
        str | None,
        typer.Option("--hours", help='JSON: {"mon": [["09:00", "17:00"]], ...}; {} = always.'),
    ] = None,
    auto_ack: Annotated[
        bool | None, typer.Option("--auto-ack/--no-auto-ack", help="Acknowledge automatically.")
    ] = None,
    ack_backlog: Annotated[
        int | None, typer.Option(help="Acknowledge in hours too from this many waiting (0: never).")
    ] = None,
    target_minutes: Annotated[int | None, typer.Option(help="Target response time.")] = None,
    database: Database = None,
) -> None:
    """Set a brand's service hours and automatic acknowledgement; show the expectation now."""
    import orjson

    from earful.brands import repository as brands_repo
    from earful.errors import BadInput

    try:
        spans = orjson.loads(hours_json) if hours_json is not None else None
    except orjson.JSONDecodeError as exc:
        err_console.print(f"[red]error:[/red] --hours is not JSON: {exc}")
        raise typer.Exit(2) from None
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        found = brands_repo.by_slug(session, brand)
        if found is None:
            err_console.print(f"[red]error:[/red] no brand {brand!r}")
            raise typer.Exit(1)
        try:
            s = acknowledge.set_hours(
                session, found.id, timezone=timezone, spans=spans, auto_ack=auto_ack,
                ack_backlog=ack_backlog, target_minutes=target_minutes,
            )  # fmt: skip
        except BadInput as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        _, e = acknowledge.brand_expectation(session, found.id, utcnow())
        console.print(
            f"{brand}: {s.timezone}, hours {orjson.dumps(s.hours).decode()}, auto-ack "
            f"{'on' if s.auto_ack else 'off'} (backlog {s.ack_backlog}); now "
            f"{'open' if e.open_now else 'closed'}, a customer writing now would be answered "
            f"by {e.answer_by:%Y-%m-%d %H:%M} UTC ({e.basis})"
            if e.answer_by
            else "no service hours at all: no time can be promised"
        )


@dataclass
class MailListener:
    """The SMTP server filing customers' email answers, running in its own thread."""

    controller: Controller
    handler: InboundHandler
    host: str
    port: int
    reply_domain: str

    def stop(self) -> None:
        self.controller.stop()


def start_mail(engine: Engine, host: str, port: int) -> MailListener:
    """Start the SMTP listener (its own thread); OSError when the port cannot be bound."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        err_console.print("[red]error:[/red] the SMTP server needs aiosmtpd: pip install aiosmtpd")
        raise typer.Exit(2) from None
    from earful.handoff.mail import InboundHandler

    handoff = HandoffSettings()
    handler = InboundHandler(engine, handoff.secret_key)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return MailListener(controller, handler, host, port, handoff.reply_domain)


@mail_app.command("serve")
def mail_serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="SMTP port.", min=1, max=65535)] = 2525,
    database: Database = None,
) -> None:
    """Receive customers' email answers (Reply-To: reply+<token>@...) over SMTP."""
    engine = engine_or_exit(database)
    mail = start_mail(engine, host, port)
    console.print(f"inbound mail on {host}:{port} for *@{mail.reply_domain}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        mail.stop()
        engine.dispose()
        console.print(f"stopped; {mail.handler.stored} messages filed")
