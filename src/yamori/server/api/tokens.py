"""API tokens (admins only): create (the secret is in this one response), list, revoke."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from yamori.server.api.deps import Admin, StoreDep
from yamori.store.tokens import TokenError, create_token, list_tokens, revoke_token, token_to_json

router = APIRouter(tags=["tokens"])


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    role: Literal["admin", "analyst", "viewer", "agent"]


@router.get("/tokens")
def tokens(_who: Admin, store: StoreDep) -> list[dict[str, Any]]:
    with store.session() as session:
        return [token_to_json(row) for row in list_tokens(session)]


@router.post("/tokens", status_code=201)
def new_token(body: TokenRequest, _who: Admin, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        issued = create_token(session, body.name, body.role)
        return {"id": issued.id, "name": issued.name, "role": issued.role, "token": issued.secret}


@router.delete("/tokens/{token_id}")
def revoke(token_id: int, _who: Admin, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        try:
            return token_to_json(revoke_token(session, token_id))
        except TokenError as exc:
            raise HTTPException(404, str(exc)) from None
