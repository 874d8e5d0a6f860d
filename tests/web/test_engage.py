"""Engagement in the conversation view: replies queue a job, counter, compliments, handoff."""

from __future__ import annotations

from sqlalchemy import Engine, select

from earful.db import transaction
from earful.models import Customer, Identity, JobKind, JobState, OutboundJob
from tests.web.world import World, client, login


def jobs(engine: Engine, conv_id: int) -> list[OutboundJob]:
    with transaction(engine) as s:
        rows = list(s.scalars(select(OutboundJob).where(OutboundJob.conversation_id == conv_id)))
        s.expunge_all()
        return rows


def test_reply_compliment_channel_and_handoff(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "agent")
    conv = world.convs_a[0]
    h = {"X-CSRF-Token": csrf}
    page = c.get(f"/c/{conv}")
    assert "/static/engage.js" in page.text and f'hx-get="/c/{conv}/engage"' in page.text
    assert "<script>" not in page.text  # CSP: script-src 'self', no inline scripts
    panel = c.get(f"/c/{conv}/engage")
    assert panel.status_code == 200 and "Outbound" in panel.text and "Hand off" in panel.text

    counted = c.get(f"/c/{conv}/counter", params={"text": "x" * 290}).json()
    assert counted == {"used": 293, "limit": 300, "left": 7, "over": False}  # "x… ^A"

    # The inbox's reply form now queues the signed reply as an outbound job...
    r = c.post(f"/c/{conv}/reply", data={"text": "Sorry, on it!", "version": "1"}, headers=h)
    assert r.status_code in (200, 303), r.text
    [job] = jobs(engine, conv)
    assert job.kind == JobKind.REPLY and job.text == "Sorry, on it! ^A" and job.reply_id
    # ...and refuses an over-long one before anything is stored.
    long = c.post(f"/c/{conv}/reply", data={"text": "y" * 400, "version": "2"}, headers=h)
    assert long.status_code == 400 and "bluesky allows 300" in long.text
    assert len(jobs(engine, conv)) == 1

    assert c.post(f"/c/{conv}/compliment", data={"action": "like"}, headers=h).status_code == 200
    assert [j.kind for j in jobs(engine, conv)] == [JobKind.REPLY, JobKind.LIKE]

    r = c.post(f"/c/{conv}/preferred-channel", data={"channel": "email", "email": "bad@"},
               headers=h)  # fmt: skip
    assert r.status_code == 400 and "is not a valid email address" in r.text
    r = c.post(f"/c/{conv}/preferred-channel",
               data={"channel": "email", "email": "anna@example.org"}, headers=h)  # fmt: skip
    assert r.status_code == 200
    with transaction(engine) as s:
        ident = s.scalars(select(Identity).where(Identity.handle == "anna0")).one()
        customer = s.get(Customer, ident.customer_id)
        assert customer is not None and customer.preferred_channel == "email"

    r = c.post(f"/c/{conv}/handoff", data={"channel": "preferred", "message": "Details?"},
               headers=h)  # fmt: skip
    assert r.status_code == 200
    handoff = [j for j in jobs(engine, conv) if j.kind == JobKind.HANDOFF]
    assert [(j.network, j.target) for j in handoff] == [("email", "anna@example.org")]

    with transaction(engine) as s:  # a failed job shows its reason and can be retried
        like = s.scalars(select(OutboundJob).where(OutboundJob.kind == JobKind.LIKE)).one()
        like.state, like.reason, like_id = JobState.FAILED, "HTTP 500 twice", like.id
    panel = c.get(f"/c/{conv}/engage").text
    assert "failed: HTTP 500 twice" in panel and f"/jobs/{like_id}/retry" in panel
    assert c.post(f"/jobs/{like_id}/retry", headers=h).status_code == 200
    assert [j.state for j in jobs(engine, conv) if j.id == like_id] == [JobState.QUEUED]


def test_a_viewer_sees_state_but_cannot_act(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "viewer")
    conv = world.convs_a[0]
    panel = c.get(f"/c/{conv}/engage")
    assert panel.status_code == 200 and "Hand off" not in panel.text
    r = c.post(f"/c/{conv}/compliment", data={"action": "like"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
