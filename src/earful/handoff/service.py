"""Handing a conversation off: checks first, then one stored handoff and its outbound job.

Never commits. Nothing is sent here: the outbound worker sends the job. Every refusal
(no email, a bad address, no channel configured) happens before anything is queued.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from earful.auth.service import Principal, audit
from earful.conversations import repository as conversations_repo
from earful.conversations.service import access_conversation
from earful.customers import links
from earful.customers import service as customers
from earful.engagement import compose
from earful.engagement import repository as replies_repo
from earful.engagement import service as replies
from earful.engagement.compose import limit_for
from earful.errors import BadInput
from earful.handoff import tokens, transcript
from earful.handoff.config import HandoffSettings
from earful.models import (
    Brand,
    Conversation,
    Handoff,
    Identity,
    JobKind,
    OutboundJob,
    Post,
    Role,
)

CHANNELS = ("email", "zendesk", "helpscout", "dm", "webhook")
# What each preferred contact channel hands off to.
PREFERRED = {"email": "email", "dm": "dm"}


def dm_recipient(network: str, ident: Identity, post: Post | None) -> str:
    """Whom a direct message goes to, in the form the network's API wants.

    X addresses a DM conversation by the numeric user id, Bluesky by the DID (both are
    the identity's external id); Meta's private reply answers one comment (the post's
    id); Mastodon and Reddit address people by their handle."""
    if network in ("facebook", "instagram"):
        if post is None:
            raise BadInput(
                "a private reply on Meta answers one of the customer's comments; there is none"
            )
        return post.external_id
    if network in ("mastodon", "reddit"):
        return ident.handle or ident.external_id
    return ident.external_id


def _customer_email(session: Session, conv: Conversation, override: str | None) -> str:
    if override and override.strip():
        return customers.clean_email(override)
    customer = customers.customer_of(session, conv)
    return customers.clean_email(customer.email if customer and customer.email else "")


def _suggest_address(session: Session, conv: Conversation, ident: Identity, to: str) -> None:
    """The customer is reached at ``to``: suggest linking that email account to theirs, so
    their answer, or a later email of theirs, is theirs once an agent agrees."""
    who = f"@{ident.handle}" if ident.handle else f"{ident.network} {ident.external_id}"
    links.suggest_address(session, conv, to, f"the email handoff for {who} went to {to}")


def handoff(
    session: Session,
    principal: Principal,
    conv_id: int,
    channel: str,
    settings: HandoffSettings,
    message: str | None = None,
    address: str | None = None,
) -> Handoff:
    """Hand the conversation off on ``channel`` (checked first, then queued; audited)."""
    row = _handoff(session, principal, conv_id, channel, settings, message, address)
    audit(session, principal, "conversation.handoff", brand_id=row.brand_id,
          target=f"conversation:{row.conversation_id}", channel=channel)  # fmt: skip
    return row


def _handoff(
    session: Session,
    principal: Principal,
    conv_id: int,
    channel: str,
    settings: HandoffSettings,
    message: str | None = None,
    address: str | None = None,
) -> Handoff:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    if channel not in CHANNELS:
        raise BadInput(f"hand off to one of {', '.join(CHANNELS)}")
    brand = session.get(Brand, conv.brand_id)
    ident = session.get(Identity, conv.identity_id)
    assert brand is not None and ident is not None
    sig = replies.agent_signature(session, conv.brand_id, principal.user_id, principal.name)
    note = (message or "").strip()
    tr = transcript.build(session, conv, settings.public_url)
    subject = f"{brand.name}: {conv.subject or 'your message'}"[:150] + f" [#{conv.id}]"
    job_fields: dict[str, object] = {}
    payload: dict[str, object] = {"conversation_id": conv.id}

    if channel == "email":
        to = _customer_email(session, conv, address)
        _suggest_address(session, conv, ident, to)
        key = replies.new_key()
        message_id = f"<{key}@{settings.reply_domain}>"
        intro = (note + f"\n\n{principal.name} {sig}\n\n") if note else ""
        text = intro + tr.for_customer()
        payload.update(
            to=to,
            subject=subject,
            message_id=message_id,
            reply_to=tokens.reply_address(conv.id, settings.secret_key, settings.reply_domain),
            **{"from": f"{brand.name} <{settings.mail_from}>"},
        )
        target, external_id = to, message_id
        job_fields.update(key=key)
    elif channel in ("zendesk", "helpscout"):
        configured = (
            settings.zendesk_url and settings.zendesk_token
            if channel == "zendesk"
            else settings.helpscout_client_id and settings.helpscout_mailbox_id
        )
        if not configured:
            raise BadInput(f"{channel} is not configured; set its URL and credentials first")
        to = _customer_email(session, conv, address)
        _suggest_address(session, conv, ident, to)
        customer = customers.customer_of(session, conv)
        text = tr.for_team()
        payload.update(
            subject=subject,
            requester_email=to,
            requester_name=(customer.display_name if customer else None) or ident.display_name,
            public_text=(note + "\n\n" if note else "") + tr.for_customer(),
            tags=["earful", *tr.tags],
            link=tr.link,
        )
        target, external_id = to, None
    elif channel == "dm":
        if not note:
            raise BadInput("a direct message needs some text")
        post = replies_repo.target_post(session, conv.id)
        network = post.network if post else ident.network
        text = compose.check_reply(note, network, sig)
        if len(text) > limit_for(network) * 4:
            raise BadInput("the direct message is too long")
        own = replies_repo.target_post(session, conv.id, identity_id=ident.id)
        recipient = dm_recipient(network, ident, own)
        handoff_row = Handoff(
            brand_id=conv.brand_id,
            conversation_id=conv.id,
            author_id=principal.user_id,
            channel="dm",
            address=f"@{ident.handle}" if ident.handle else recipient,
        )
        session.add(handoff_row)
        session.flush()
        job = replies.queue_job(
            session, conv, conv.brand_id, JobKind.DIRECT_MESSAGE, network,
            target=recipient, text=text, author_id=principal.user_id,
            handoff_id=handoff_row.id,
        )  # fmt: skip
        job.payload = payload
        conversations_repo.bump_version(session, conv.id)
        return handoff_row
    else:  # webhook
        if not settings.webhook_url or not settings.webhook_secret:
            raise BadInput("no outgoing webhook is configured; set its URL and secret first")
        text = tr.for_team()
        payload.update(transcript=tr.as_json(), message=note or None, link=tr.link)
        target, external_id = settings.webhook_url, None

    handoff_row = Handoff(
        brand_id=conv.brand_id,
        conversation_id=conv.id,
        author_id=principal.user_id,
        channel=channel,
        address=target,
        external_id=external_id,
    )
    session.add(handoff_row)
    session.flush()
    payload["handoff_id"] = handoff_row.id
    job = replies.queue_job(
        session,
        conv,
        conv.brand_id,
        JobKind.HANDOFF,
        channel,
        target=target,
        text=text,
        author_id=principal.user_id,
        handoff_id=handoff_row.id,
        **job_fields,  # type: ignore[arg-type]
    )
    job.payload = payload
    conversations_repo.bump_version(session, conv.id)
    session.flush()
    return handoff_row


def handoff_preferred(
    session: Session,
    principal: Principal,
    conv_id: int,
    settings: HandoffSettings,
    message: str | None = None,
) -> Handoff:
    """Hand off to the channel the customer said they prefer."""
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    customer = customers.customer_of(session, conv)
    preferred = customer.preferred_channel if customer else None
    if preferred is None:
        raise BadInput("the customer has not said how they prefer to continue; ask them first")
    channel = PREFERRED.get(preferred)
    if channel is None:
        raise BadInput(f"the customer prefers {preferred}: answer there, no handoff is needed")
    return handoff(session, principal, conv_id, channel, settings, message)


def jobs_of(session: Session, handoff_row: Handoff) -> list[OutboundJob]:
    return [
        j
        for j in replies_repo.jobs_of_conversation(session, handoff_row.conversation_id)
        if j.handoff_id == handoff_row.id
    ]


def conversation_handoffs(
    session: Session, principal: Principal, conv_id: int
) -> list[tuple[Handoff, list[OutboundJob]]]:
    """The conversation's handoffs with their jobs, for the conversation view."""
    conv = access_conversation(session, principal, conv_id)
    return [(h, jobs_of(session, h)) for h in replies_repo.handoffs_of(session, conv.id)]
