"""Handoff settings (``EARFUL_`` prefix): mail, Zendesk, Help Scout, the outgoing webhook."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class HandoffSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EARFUL_", env_file=".env", extra="ignore")

    secret_key: str = "dev-insecure-change-me"  # signs Reply-To tokens
    public_url: str = "http://127.0.0.1:8000"  # links back to the conversation

    mail_from: str = "support@earful.local"
    reply_domain: str = "reply.earful.local"  # Reply-To: reply+<token>@reply_domain
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = 30.0

    zendesk_url: str | None = None  # https://{subdomain}.zendesk.com
    zendesk_email: str | None = None
    zendesk_token: str | None = None

    helpscout_url: str = "https://api.helpscout.net"
    helpscout_client_id: str | None = None
    helpscout_client_secret: str | None = None
    helpscout_mailbox_id: int | None = None

    webhook_url: str | None = None
    webhook_secret: str | None = None
