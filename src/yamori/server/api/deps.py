"""Shared route plumbing: the store, role-bound principals, comma-separated list parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from yamori.server.auth import ADMIN, READ, SUBMIT, TRIAGE, require
from yamori.store.db import Store
from yamori.store.tokens import Principal


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]
Reader = Annotated[Principal, Depends(require(READ))]
Triager = Annotated[Principal, Depends(require(TRIAGE))]
Submitter = Annotated[Principal, Depends(require(SUBMIT))]
Admin = Annotated[Principal, Depends(require(ADMIN))]


def csv(values: list[str] | None) -> list[str]:
    """``?severity=HIGH,CRITICAL`` and ``?severity=HIGH&severity=CRITICAL`` mean the same."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out
