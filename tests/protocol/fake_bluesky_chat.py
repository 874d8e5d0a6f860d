"""A fake Bluesky chat service behind the fake PDS: ``chat.bsky.convo.*`` over XRPC.

The PDS forwards chat calls that carry ``atproto-proxy: did:web:api.bsky.chat#bsky_chat``
(without it a chat method is ``MethodNotImplemented``), with the account's session
(``ExpiredToken``, ``RateLimitExceeded`` with ``ratelimit-*`` headers, as the PDS).
Shapes follow the lexicons in ``lexicons/chat/bsky/convo/``: ``convoView`` (``id``,
``rev``, ``members`` as ``profileViewBasic``, ``lastMessage``, ``muted``,
``unreadCount``), ``messageView`` (``id``, ``rev``, ``text``, ``sender.did``,
``sentAt``), the log's ``#logBeginConvo`` / ``#logCreateMessage`` / ``#logReadMessage``,
and ``getLog`` starting *now* when called without a cursor.

:meth:`FakeBlueskyChat.dm` is a member writing to the account, :meth:`~FakeBlueskyChat.say`
a member writing in a group conversation (:meth:`~FakeBlueskyChat.group`, three or more
members; ``getConvoForMembers`` is for one-to-one ones only); every ``sendMessage``
of ours is a message in the conversation and in the log too (our own echo).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.protocol.fake_bluesky import FakeBluesky, _now

PROXY = "did:web:api.bsky.chat#bsky_chat"
DEFS = "chat.bsky.convo.defs#"
MAX_TEXT = 1000  # messageInput.text maxGraphemes


@dataclass
class Convo:
    id: str
    members: list[str]
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    rev: str = ""


@dataclass
class FakeBlueskyChat(FakeBluesky):
    convos: dict[str, Convo] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)  # oldest first, each has a rev
    handles: dict[str, str] = field(default_factory=dict)  # member DID -> handle
    sent: list[tuple[str, str]] = field(default_factory=list)  # our (convoId, text)
    log_page: int = 50
    _revs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _rev(self) -> str:
        return f"2222222{next(self._revs):06d}"  # opaque, sortable, like the service's

    # ------------------------------------------------------------ the network

    def convo_with(self, did: str) -> Convo:
        for convo in self.convos.values():
            if set(convo.members) == {self.did, did}:
                return convo
        convo = Convo(id=f"3lconvo{len(self.convos) + 1:05d}", members=[self.did, did])
        convo.rev = self._rev()
        self.convos[convo.id] = convo
        self.log.append({"$type": DEFS + "logBeginConvo", "rev": convo.rev, "convoId": convo.id})
        return convo

    def group(self, *dids: str) -> Convo:
        """A group conversation of the account and ``dids`` (``members`` lists them all)."""
        convo = Convo(id=f"3lgroup{len(self.convos) + 1:05d}", members=[self.did, *dids])
        convo.rev = self._rev()
        self.convos[convo.id] = convo
        self.log.append({"$type": DEFS + "logBeginConvo", "rev": convo.rev, "convoId": convo.id})
        return convo

    def say(self, convo: Convo, did: str, text: str) -> dict[str, Any]:
        """Member ``did`` writes ``text`` in ``convo`` (a group one, say)."""
        assert did in convo.members
        return self._message(convo, did, text)

    def dm(self, did: str, text: str) -> dict[str, Any]:
        """``did`` writes ``text`` to the account: the message view."""
        return self._message(self.convo_with(did), did, text)

    def read(self, did: str) -> None:
        """The member read our messages (a log event that is no message)."""
        convo = self.convo_with(did)
        self.log.append({"$type": DEFS + "logReadMessage", "rev": self._rev(), "convoId": convo.id,
                         "message": convo.messages[-1]})  # fmt: skip

    def _message(self, convo: Convo, sender: str, text: str) -> dict[str, Any]:
        rev = self._rev()
        view = {
            "$type": DEFS + "messageView",
            "id": f"3lmsg{rev}",
            "rev": rev,
            "text": text,
            "sender": {"did": sender},
            "sentAt": _now(),
        }
        convo.messages.append(view)
        convo.rev = rev
        self.log.append({"$type": DEFS + "logCreateMessage", "rev": rev, "convoId": convo.id,
                         "message": view})  # fmt: skip
        return view

    def _convo_view(self, convo: Convo) -> dict[str, Any]:
        return {
            "id": convo.id,
            "rev": convo.rev,
            "members": [{"did": d, "handle": self._handle(d), "labels": []} for d in convo.members],
            "lastMessage": convo.messages[-1] if convo.messages else None,
            "muted": False,
            "status": "accepted",
            "unreadCount": sum(1 for m in convo.messages if m["sender"]["did"] != self.did),
        }

    def _handle(self, did: str) -> str:
        return self.handle if did == self.did else self.handles.get(did, "handle.invalid")

    # ------------------------------------------------------------ XRPC

    def _chat(self, request: Request) -> Response | None:
        if (gate := self._gate(request)) is not None:
            return gate
        if (auth := self._authed(request)) is not None:
            return auth
        if request.headers.get("atproto-proxy") != PROXY:
            return _error(501, "MethodNotImplemented", "Method Not Implemented")
        return None

    async def get_log(self, request: Request) -> Response:
        if (refused := self._chat(request)) is not None:
            return refused
        cursor = request.query_params.get("cursor")
        head = self.log[-1]["rev"] if self.log else "2222222000000"
        if not cursor:
            return JSONResponse({"cursor": head, "logs": []})  # the log starts now
        logs = [e for e in self.log if e["rev"] > cursor][: self.log_page]
        return JSONResponse({"cursor": logs[-1]["rev"] if logs else cursor, "logs": logs})

    async def list_convos(self, request: Request) -> Response:
        if (refused := self._chat(request)) is not None:
            return refused
        limit = int(request.query_params.get("limit") or 50)
        if not 1 <= limit <= 100:
            return _error(400, "InvalidRequest", "limit must be between 1 and 100")
        newest = sorted(self.convos.values(), key=lambda c: c.rev, reverse=True)
        start = int(request.query_params.get("cursor") or 0)
        page = newest[start : start + limit]
        doc: dict[str, Any] = {"convos": [self._convo_view(c) for c in page]}
        if start + limit < len(newest):
            doc["cursor"] = str(start + limit)
        return JSONResponse(doc)

    async def get_messages(self, request: Request) -> Response:
        if (refused := self._chat(request)) is not None:
            return refused
        convo = self.convos.get(request.query_params.get("convoId") or "")
        if convo is None:
            return _error(400, "InvalidConvo", "Convo not found")
        return JSONResponse({"messages": list(reversed(convo.messages[-50:]))})

    async def get_convo_for_members(self, request: Request) -> Response:
        if (refused := self._chat(request)) is not None:
            return refused
        members = request.query_params.getlist("members")
        if not 1 <= len(members) <= 10:
            return _error(400, "InvalidRequest", "members must hold 1 to 10 DIDs")
        others = [m for m in members if m != self.did]
        if len(others) != 1:
            return _error(400, "InvalidRequest", "group conversations are not supported")
        return JSONResponse({"convo": self._convo_view(self.convo_with(others[0]))})

    async def send_message(self, request: Request) -> Response:
        if (refused := self._chat(request)) is not None:
            return refused
        body = await request.json()
        convo = self.convos.get(str(body.get("convoId")))
        if convo is None or self.did not in convo.members:
            return _error(400, "InvalidConvo", "Convo not found")
        text = (body.get("message") or {}).get("text")
        if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
            return _error(400, "InvalidRequest", "message.text must be 1 to 1000 characters")
        self.sent.append((convo.id, text))
        return JSONResponse(self._message(convo, self.did, text))

    def routes(self) -> list[BaseRoute]:
        x = "/xrpc/chat.bsky.convo."
        return [
            *super().routes(),
            Route(x + "getLog", self.get_log),
            Route(x + "listConvos", self.list_convos),
            Route(x + "getMessages", self.get_messages),
            Route(x + "getConvoForMembers", self.get_convo_for_members),
            Route(x + "sendMessage", self.send_message, methods=["POST"]),
        ]


def _error(status: int, error: str, message: str) -> Response:
    return JSONResponse({"error": error, "message": message}, status_code=status)
