"""The customer's contact details from the conversation view (the preferred channel and
their linked accounts: link, unlink, suggestions, each an HTML form and a JSON twin), and
the brand admins' data requests: erase one customer, export one customer's data, export
the brand's conversations (JSON Lines or CSV, streamed). Each is audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import Engine

from earful.auth.access import access_brand_id
from earful.auth.service import audit
from earful.brands.service import access_brand
from earful.conversations import export as conversation_export
from earful.customers import erasure, export, links, service
from earful.customers.schemas import AccountOut, LinkIn, SuggestionOut
from earful.errors import BadInput, Forbidden, NotFound
from earful.models import Brand, Identity, LinkSuggestion, Role
from earful.models.base import utcnow
from earful.web.deps import CurrentUser, Db
from earful.web.render import back_to_conversation, render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["customers"])


def _account(i: Identity) -> AccountOut:
    return AccountOut(id=i.id, network=i.network, handle=i.handle, external_id=i.external_id)


def _suggestion(s: LinkSuggestion) -> SuggestionOut:
    return SuggestionOut(
        id=s.id, identity_id=s.identity_id, other_id=s.other_id, reason=s.reason, state=s.state
    )


@html.post("/c/{conv_id}/preferred-channel")
def preferred_channel(
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    channel: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    service.set_preferred_channel(db, principal, conv_id, channel, email or None)
    return back_to_conversation(conv_id, "#engage")


def _customer(
    db: Db, principal: CurrentUser, slug: str, identity_id: int
) -> tuple[Brand, Identity]:
    """A customer of this brand, for one of its admins (404 for another brand's)."""
    brand = access_brand(db, principal, slug, Role.ADMIN)
    identity = db.get(Identity, identity_id)
    if identity is None or brand.id not in erasure.brands_of(db, identity):
        raise NotFound("no such customer in this brand")
    return brand, identity


@html.get("/brands/{slug}/customers/{identity_id}/erase", response_class=HTMLResponse)
def erase_page(
    request: Request, db: Db, principal: CurrentUser, slug: str, identity_id: int
) -> Response:
    brand, identity = _customer(db, principal, slug, identity_id)
    found = erasure.preview(db, identity)
    others = len([b for b in found.brand_ids if b != brand.id])
    return render(
        request,
        "customer_erase.html",
        {"brand": brand, "identity": identity, "p": found, "other_brands": others},
    )


@html.post("/brands/{slug}/customers/{identity_id}/erase")
def erase_customer(
    db: Db,
    principal: CurrentUser,
    slug: str,
    identity_id: int,
    confirm: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    brand, identity = _customer(db, principal, slug, identity_id)
    found = erasure.preview(db, identity)
    if confirm.strip().lstrip("@").lower() != found.confirm_word.lower():
        raise BadInput(f"type {found.confirm_word} to confirm the erasure; nothing was erased")
    for brand_id in found.brand_ids:  # erasure is everywhere: admin of every brand concerned
        try:
            access_brand_id(principal, brand_id, Role.ADMIN)
        except (Forbidden, NotFound):
            raise Forbidden(
                "this customer also has conversations in a brand you do not run; "
                "an operator can erase them with `earful customers erase`"
            ) from None
    # One transaction (the request's): recorded, erased and audited together.
    request_row = erasure.record_request(db, identity, principal.email)
    erasure.carry_out(db, request_row, utcnow(), principal)
    return RedirectResponse(f"/brands/{brand.slug}/audit", status_code=303)


@html.get("/brands/{slug}/customers/{identity_id}/export.json")
def export_customer(db: Db, principal: CurrentUser, slug: str, identity_id: int) -> Response:
    brand, identity = _customer(db, principal, slug, identity_id)
    data = export.customer_data(db, identity)
    audit(db, principal, "customer.export", brand_id=brand.id, target=f"identity:{identity.id}")
    return Response(
        orjson.dumps(data, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="customer-{identity.id}.json"'},
    )


@html.get("/brands/{slug}/export.{fmt}")
def export_brand(
    request: Request, db: Db, principal: CurrentUser, slug: str, fmt: str
) -> StreamingResponse:
    """The brand's conversations, streamed from a connection of its own (the request's
    transaction has ended by the time the body is sent)."""
    brand = access_brand(db, principal, slug, Role.ADMIN)
    if fmt not in conversation_export.FORMATS:
        raise NotFound("export as .jsonl or .csv")
    audit(db, principal, "brand.export", brand_id=brand.id, target=f"brand:{brand.slug}",
          format=fmt)  # fmt: skip
    engine: Engine = request.app.state.engine
    brand_id = brand.id

    def body() -> Iterator[bytes]:
        with engine.connect() as conn:
            yield from conversation_export.encode(
                conversation_export.conversations(conn, brand_id), fmt
            )

    media = "application/x-ndjson" if fmt == "jsonl" else "text/csv; charset=utf-8"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{brand.slug}.{fmt}"'},
    )


@html.post("/c/{conv_id}/links")
def link(
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    network: Annotated[str, Form()] = "",
    account: Annotated[str, Form()] = "",
) -> Response:
    links.link(db, principal, conv_id, network, account)
    return back_to_conversation(conv_id, "#customer")


@html.post("/c/{conv_id}/links/{identity_id}/unlink")
def unlink(db: Db, principal: CurrentUser, conv_id: int, identity_id: int) -> Response:
    links.unlink(db, principal, conv_id, identity_id)
    return back_to_conversation(conv_id, "#customer")


@html.post("/c/{conv_id}/link-suggestions/{suggestion_id}/{verdict}")
def decide(
    db: Db, principal: CurrentUser, conv_id: int, suggestion_id: int, verdict: str
) -> Response:
    links.decide(db, principal, conv_id, suggestion_id, accept=_accept(verdict))
    return back_to_conversation(conv_id, "#customer")


def _accept(verdict: str) -> bool:
    if verdict not in ("accept", "dismiss"):
        raise BadInput("a suggestion is accepted or dismissed")
    return verdict == "accept"


@api.post("/conversations/{conv_id}/links", response_model=AccountOut, status_code=201)
def api_link(db: Db, principal: CurrentUser, conv_id: int, body: LinkIn) -> AccountOut:
    return _account(links.link(db, principal, conv_id, body.network, body.account))


@api.post("/conversations/{conv_id}/links/{identity_id}/unlink", response_model=AccountOut)
def api_unlink(db: Db, principal: CurrentUser, conv_id: int, identity_id: int) -> AccountOut:
    return _account(links.unlink(db, principal, conv_id, identity_id))


@api.get("/conversations/{conv_id}/link-suggestions", response_model=list[SuggestionOut])
def api_suggestions(db: Db, principal: CurrentUser, conv_id: int) -> list[SuggestionOut]:
    return [_suggestion(s) for s in links.suggestions(db, principal, conv_id)]


@api.post(
    "/conversations/{conv_id}/link-suggestions/{suggestion_id}/{verdict}",
    response_model=SuggestionOut,
)
def api_decide(
    db: Db, principal: CurrentUser, conv_id: int, suggestion_id: int, verdict: str
) -> SuggestionOut:
    return _suggestion(links.decide(db, principal, conv_id, suggestion_id, _accept(verdict)))
