"""Sign-in throttling: a progressive delay after a few failures, then a lock.

Counted per account and per client address. Within the free failures nothing changes;
after them each attempt must wait twice as long as the one before (2 s, 4 s, … capped),
and is refused *without checking the password*, so a guessing loop learns nothing from
the answers it is refused. Past the lock threshold the key is locked for an hour, which
an admin lifts early with ``earful users unlock``. Failures older than the window (since
the last one) are forgotten. Pure: the repository stores the rows, the endpoint decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from earful.models import SignInThrottle


@dataclass(frozen=True, slots=True)
class Policy:
    free_failures: int
    lock_after: int
    max_delay: timedelta = timedelta(minutes=5)
    lock_for: timedelta = timedelta(hours=1)
    forget_after: timedelta = timedelta(minutes=30)


# An office behind one address shares it, so the address allows more than an account.
ACCOUNT = Policy(free_failures=5, lock_after=15)
ADDRESS = Policy(free_failures=20, lock_after=100)


def account_key(email: str) -> str:
    return f"account:{email.strip().lower()}"


def second_factor_key(user_id: int) -> str:
    """The TOTP step is counted apart from the password, under the account's policy."""
    return f"totp:{user_id}"


def address_key(address: str) -> str:
    return f"ip:{address}"


def delay(policy: Policy, failures: int) -> timedelta:
    """How long after the last failure the next attempt is heard."""
    if failures < policy.free_failures:
        return timedelta(0)
    seconds = 2.0 ** (failures - policy.free_failures + 1)
    return min(timedelta(seconds=seconds), policy.max_delay)


def _stale(policy: Policy, row: SignInThrottle, now: datetime) -> bool:
    locked = row.locked_until is not None and row.locked_until > now
    return not locked and now - row.last_failure_at > policy.forget_after


def retry_after(policy: Policy, row: SignInThrottle | None, now: datetime) -> timedelta:
    """Zero when an attempt may be checked now; otherwise how long to wait."""
    if row is None or _stale(policy, row, now):
        return timedelta(0)
    if row.locked_until is not None and row.locked_until > now:
        return row.locked_until - now
    return max(timedelta(0), row.last_failure_at + delay(policy, row.failures) - now)


def fail(policy: Policy, row: SignInThrottle, now: datetime) -> None:
    """Count a checked, wrong attempt (locking the key past the threshold)."""
    if _stale(policy, row, now) or (row.locked_until is not None and row.locked_until <= now):
        row.failures, row.locked_until = 0, None
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= policy.lock_after:
        row.locked_until = now + policy.lock_for
