"""Each network's settings, declared once: the web form draws its fields from here, the
service seals the secret ones and refuses a source missing a required one, and
``earful sources add --set KEY=VALUE`` takes the same names. Only what an admin sets; the
connectors' tuning knobs (batch sizes, timeouts) keep their defaults and may still be set
from the CLI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # the connector's keyword argument, as ``--set`` takes it
    label: str
    help: str = ""
    secret: bool = False  # sealed at rest, a password input, never shown back
    required: bool = False
    default: str = ""  # shown as the input's placeholder; the connector's own default
    many: bool = False  # a list: one a line or comma-separated


_BSKY_ID = Field("identifier", "Handle or DID", "The brand's account, e.g. acme.bsky.social.")
_BSKY_PASSWORD = Field(
    "password", "App password", "Settings → Privacy and security → App passwords.", secret=True
)
_PDS = Field("pds_url", "PDS base URL", default="https://bsky.social")

FIELDS: dict[str, tuple[Field, ...]] = {
    "mastodon": (
        Field("base_url", "Instance base URL", "e.g. https://mastodon.social", required=True),
        Field("tag", "Hashtag", "Heard on the hashtag stream, without the #.", required=True),
        Field("query", "Keywords", "Also searched on catch-up, e.g. acme OR @acme."),
        Field(
            "access_token",
            "Access token",
            "From Preferences → Development; needed to answer.",
            secret=True,
        ),
    ),
    "bluesky": (
        Field(
            "query",
            "Keywords",
            "Posts on the Jetstream firehose that match, e.g. acme.",
            required=True,
        ),
        Field(
            "jetstream_url",
            "Jetstream URL",
            default="wss://jetstream2.us-east.bsky.network/subscribe",
        ),
        _BSKY_ID,
        _BSKY_PASSWORD,
        _PDS,
    ),
    "bluesky_chat": (
        Field(
            "identifier",
            "Handle or DID",
            "The brand's account, e.g. acme.bsky.social.",
            required=True,
        ),
        Field(
            "password",
            "App password",
            "One allowed to reach direct messages.",
            secret=True,
            required=True,
        ),
        _PDS,
    ),
    "reddit": (
        Field("subreddits", "Subreddits", "One a line or comma-separated, without r/.", many=True),
        Field("query", "Search query", 'Searched across Reddit, e.g. acme OR "acme air".'),
        Field("client_id", "Client ID", "From reddit.com/prefs/apps.", required=True),
        Field("client_secret", "Client secret", "Empty for an installed app.", secret=True),
        Field("refresh_token", "Refresh token", "Or a username and password below.", secret=True),
        Field("username", "Username", "A script app's account."),
        Field("password", "Password", "A script app's password.", secret=True),
    ),
    "x": (
        Field(
            "bearer_token",
            "Bearer token",
            "The app's, for the filtered stream.",
            secret=True,
            required=True,
        ),
        Field("queries", "Queries", "One a line, e.g. acme -is:retweet.", required=True, many=True),
        Field("user_id", "Brand account's user ID", "To skip the brand's own posts."),
        Field("user_token", "User access token", "OAuth 2.0, to answer as the brand.", secret=True),
    ),
    "x_dm": (
        Field(
            "user_token", "User access token", "OAuth 2.0 with dm.read.", secret=True, required=True
        ),
        Field(
            "user_id", "Brand account's user ID", "To skip the brand's own messages.", required=True
        ),
    ),
    "x_activity": (
        Field(
            "consumer_secret",
            "Consumer secret",
            "The app's API key secret, to sign the CRC.",
            secret=True,
            required=True,
        ),
    ),
    "meta": (
        Field(
            "app_secret",
            "App secret",
            "Checks the X-Hub-Signature-256 of each delivery.",
            secret=True,
            required=True,
        ),
        Field(
            "verify_token",
            "Verify token",
            "The one you type in the app's webhook setup.",
            secret=True,
            required=True,
        ),
        Field("page_token", "Page access token", "Needed to answer.", secret=True),
        Field("page_id", "Page ID", "The Facebook Page (or its Instagram account)."),
    ),
    "webhook": (
        Field(
            "secret",
            "Shared secret",
            "Signs each delivery (HMAC-SHA256).",
            secret=True,
            required=True,
        ),
    ),
}


def secret_names(kind: str) -> frozenset[str]:
    return frozenset(f.name for f in FIELDS.get(kind, ()) if f.secret)


def many_names(kind: str) -> frozenset[str]:
    return frozenset(f.name for f in FIELDS.get(kind, ()) if f.many)
