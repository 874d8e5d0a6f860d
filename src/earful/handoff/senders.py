"""The handoff channels the settings configure, as the outbound worker's senders."""

from __future__ import annotations

from earful.engagement.worker import Sender
from earful.handoff.config import HandoffSettings
from earful.handoff.helpdesk import HelpScoutClient, ZendeskClient
from earful.handoff.mail import SmtpSender
from earful.handoff.webhook import WebhookSender


def zendesk(settings: HandoffSettings) -> ZendeskClient | None:
    s = settings
    if not (s.zendesk_url and s.zendesk_email and s.zendesk_token):
        return None
    return ZendeskClient(s.zendesk_url, s.zendesk_email, s.zendesk_token)


def helpscout(settings: HandoffSettings) -> HelpScoutClient | None:
    s = settings
    if not (s.helpscout_client_id and s.helpscout_client_secret and s.helpscout_mailbox_id):
        return None
    return HelpScoutClient(
        s.helpscout_url, s.helpscout_client_id, s.helpscout_client_secret, s.helpscout_mailbox_id
    )


def senders(settings: HandoffSettings) -> dict[str, Sender]:
    """Email always (SMTP settings have defaults); the rest where configured."""
    out: dict[str, Sender] = {"email": SmtpSender(settings)}
    if (zd := zendesk(settings)) is not None:
        out["zendesk"] = zd
    if (hs := helpscout(settings)) is not None:
        out["helpscout"] = hs
    if settings.webhook_url and settings.webhook_secret:
        out["webhook"] = WebhookSender(settings.webhook_url, settings.webhook_secret)
    return out
