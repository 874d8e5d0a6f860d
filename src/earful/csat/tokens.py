"""The survey link's token: the survey id, signed (HMAC-SHA1 via itsdangerous) and dated.

The token is the only credential of the anonymous answer page, so it must not be
guessable or alterable: a changed character fails the signature, an old one its age.
"""

from __future__ import annotations

import re

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from earful.errors import BadInput, Forbidden

SALT = "earful.csat"
SHAPE = re.compile(r"^[A-Za-z0-9_\-]{1,40}\.[A-Za-z0-9_\-]{1,20}\.[A-Za-z0-9_\-]{10,100}$")


class LinkExpired(Forbidden):
    pass


def _signer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def sign(survey_id: int, secret: str) -> str:
    return _signer(secret).dumps(survey_id)


def survey_of(token: str, secret: str, max_age_s: int) -> int:
    """The survey id of a genuine, unexpired token; 400 for garbage, 403 for a forgery."""
    if not SHAPE.match(token):
        raise BadInput("this survey link is malformed; open the link from our message again")
    try:
        value = _signer(secret).loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise LinkExpired("this survey link has expired; thank you all the same") from None
    except BadSignature:
        raise Forbidden("this survey link is not valid") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Forbidden("this survey link is not valid")
    return value
