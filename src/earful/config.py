"""Settings, read from the environment (prefix ``EARFUL_``) or a ``.env`` file.

Bad values fail at start with a message naming the setting and what is wrong
(see :func:`load_settings`), never later in the middle of a run.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EARFUL_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path(".earful"), description="Where the embedded database lives."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means SQLite in WAL mode under data_dir.",
    )
    log_level: LogLevel = "INFO"
    secret_key: str = Field(
        default="dev-insecure-change-me",
        description="Signs session cookies and CSRF tokens; set it in production.",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    # OpenID Connect sign-in (authorization code + PKCE): on when the issuer is set.
    oidc_issuer: str | None = Field(
        default=None, description="Issuer URL of the identity provider; empty turns OIDC off."
    )
    oidc_client_id: str = ""
    oidc_client_secret: str = Field(default="", repr=False)
    oidc_create_users: bool = Field(
        default=False,
        description="Create an account (with no brand) for an unknown verified email.",
    )
    oidc_label: str = "your identity provider"
    second_tier: bool = Field(
        default=False,
        description="Relabel brand posts' sentiment, intent and urgency with the second tier "
        "(the shipped transformer) after each batch commits.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme:
            raise ValueError("must be a URL such as sqlite:///path.db or postgresql://host/db")
        backend = scheme.split("+", 1)[0]
        if backend not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(f"unsupported database {backend!r}; use sqlite or postgresql")
        if backend == "postgres":
            value = "postgresql" + value[len("postgres") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'earful.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's errors into one readable :class:`ConfigError`."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"EARFUL_{name.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    logging.getLogger("earful").setLevel(settings.log_level)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
