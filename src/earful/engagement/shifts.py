"""Sign-on / sign-off posts: "We're here until 6 pm", "We're away until 9 am Monday".

:func:`shift_round` runs with the outbound worker: at each edge of a brand's service
hours (in its time zone; closed days have no edges, and back-to-back spans such as one
ending at midnight and the next starting then are one) it queues one post on the
brand's chosen network. The job's key is the brand, the edge and its moment, so a round
run twice, or two workers, post once. An edge older than :data:`LOOKBACK` is skipped: a
stale "we're here" is worse than none. Posts are signed like any reply (the brand's
signature format, filled in with the brand's name) and checked against the network's
limit when saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.engagement import compose, hours, service
from earful.engagement import repository as repo
from earful.errors import BadInput
from earful.models import Brand, JobKind, OutboundJob, ShiftPostSettings

LOOKBACK = timedelta(minutes=30)
DEFAULT_ON = "We're here until {until}. Ask us anything!"
DEFAULT_OFF = "We're away until {until}. Leave us a message and we'll answer then."


@dataclass(slots=True, frozen=True)
class Edge:
    kind: str  # "on" (the team comes in) or "off" (it leaves)
    at: datetime
    until: datetime | None  # when it leaves (on) or is back (off); None: not in a week


def spans(h: hours.Hours, since: datetime) -> list[tuple[datetime, datetime]]:
    """Open spans of the week from ``since``, back-to-back spans merged into one."""
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(hours.week_spans(h, since)):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def edges(h: hours.Hours, now: datetime, lookback: timedelta = LOOKBACK) -> list[Edge]:
    """The edges in (now - lookback, now]: none when always open or never."""
    if h.always:
        return []
    out = []
    week = spans(h, now - timedelta(days=2))
    for i, (a, b) in enumerate(week):
        if now - lookback < a <= now:
            out.append(Edge("on", a, b))
        if now - lookback < b <= now:
            out.append(Edge("off", b, week[i + 1][0] if i + 1 < len(week) else None))
    return out


def clock_words(h: hours.Hours, at: datetime, edge: datetime) -> str:
    """ "6 pm" on the edge's own (local) day, else "9 am Monday"."""
    local = at.astimezone(h.tz)
    hour = local.strftime("%I").lstrip("0") + (local.strftime(":%M") if local.minute else "")
    words = f"{hour} {'am' if local.hour < 12 else 'pm'}"
    if local.date() == edge.astimezone(h.tz).date():
        return words
    return f"{words} {local.strftime('%A')}"


def text_for(s: ShiftPostSettings, h: hours.Hours, edge: Edge) -> str | None:
    template = (s.sign_on or DEFAULT_ON) if edge.kind == "on" else (s.sign_off or DEFAULT_OFF)
    if edge.until is None:
        return None  # "until" what? say nothing rather than something untrue
    return template.replace("{until}", clock_words(h, edge.until, edge.at))


def brand_signature(session: Session, brand: Brand) -> str:
    return compose.signature(repo.settings(session, brand.id).signature_format, brand.name)


def shift_round(
    session: Session, now: datetime, lookback: timedelta = LOOKBACK
) -> list[OutboundJob]:
    """Queue the sign-on / sign-off post of each edge just passed (once per edge)."""
    jobs: list[OutboundJob] = []
    enabled = select(ShiftPostSettings).where(ShiftPostSettings.enabled.is_(True))
    for s in session.scalars(enabled):
        eng = repo.settings(session, s.brand_id)
        try:
            h = hours.parse(eng.timezone, eng.hours)
        except BadInput:
            continue  # bad hours are refused when saved; never guess here
        brand = session.get(Brand, s.brand_id)
        assert brand is not None
        for edge in edges(h, now, lookback):
            key = f"shift-{brand.id}-{edge.kind}-{int(edge.at.timestamp())}"
            text = text_for(s, h, edge)
            if text is None or repo.job_by_key(session, key) is not None:
                continue
            try:
                signed = compose.check_reply(text, s.network, brand_signature(session, brand))
            except BadInput:
                continue  # checked when saved; a longer brand name since: skip, not cut
            job = service.queue_job(session, None, brand.id, JobKind.POST, s.network,
                                    text=signed, key=key)  # fmt: skip
            job.payload = {"shift": edge.kind, "edge": edge.at.isoformat()}
            jobs.append(job)
    session.flush()
    return jobs


def set_shift_posts(
    session: Session,
    brand_id: int,
    *,
    enabled: bool | None = None,
    network: str | None = None,
    sign_on: str | None = None,
    sign_off: str | None = None,
) -> ShiftPostSettings:
    """Change a brand's sign-on / sign-off posts; each text must say {until} and fit."""
    s = session.get(ShiftPostSettings, brand_id, with_for_update=True)
    if s is None:
        s = ShiftPostSettings(brand_id=brand_id, enabled=False, network="mastodon")
        session.add(s)
    if network is not None:
        if network not in compose.LIMITS:
            raise BadInput(f"post on one of {', '.join(sorted(compose.LIMITS))}")
        s.network = network
    for field, value in (("sign_on", sign_on), ("sign_off", sign_off)):
        if value is None:
            continue
        text = value.strip()
        if text and "{until}" not in text:
            raise BadInput("a sign-on or sign-off post must say when: put {until} in it")
        setattr(s, field, text or None)
    if enabled is not None:
        s.enabled = enabled
    brand = session.get(Brand, brand_id)
    assert brand is not None
    sig = brand_signature(session, brand)
    for template in (s.sign_on or DEFAULT_ON, s.sign_off or DEFAULT_OFF):
        # The longest "until": "12:30 pm Wednesday".
        compose.check_reply(template.replace("{until}", "12:30 pm Wednesday"), s.network, sig)
    session.flush()
    return s


def shift_settings(session: Session, brand_id: int) -> ShiftPostSettings:
    found = session.get(ShiftPostSettings, brand_id)
    return found or ShiftPostSettings(brand_id=brand_id, enabled=False, network="mastodon")
