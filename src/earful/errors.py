"""Domain errors: typed, carrying their HTTP status; one handler renders them."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title


class NotAuthenticated(DomainError):
    status_code = 401
    title = "Log in first"


class Forbidden(DomainError):
    status_code = 403
    title = "Your role does not allow this"


class CsrfFailed(Forbidden):
    title = "The form has expired or did not come from this site; reload and try again"


class NotFound(DomainError):
    status_code = 404
    title = "Not found"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"


class BadInput(DomainError):
    status_code = 400
    title = "Bad input"


class TooManyAttempts(DomainError):
    status_code = 429
    title = "Too many attempts; wait and try again"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
