"""API tokens: issued once, stored as a salted scrypt hash, checked on every request, revocable.

A token reads ``ymr_<public_id>_<secret>``. The public id finds the row directly (no scan over
every hash); the secret is 32 random bytes and never stored. scrypt makes a stolen database
useless for guessing secrets; because scrypt is deliberately slow (tens of ms), a verified token
is remembered in process memory by a fast digest of it, and revocation is still checked in the
database on every request so it takes effect at once on every replica.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from yamori.store.db import iso, utcnow
from yamori.store.models import ROLES, ApiToken

PREFIX = "ymr"
# n=2**14, r=8 needs 16 MiB and ~30 ms: enough for a 256-bit secret, cheap enough per login.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
# last_used is a convenience for admins; writing it on every request would make each read a
# write (and serialise SQLite), so it is refreshed at most once a minute.
_LAST_USED_GRANULARITY = timedelta(seconds=60)


class TokenError(ValueError):
    """A token request that cannot be honoured (unknown role, unknown id)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's row id, name and role."""

    token_id: int
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A newly created token: ``secret`` is the only time the full token exists in clear."""

    id: int
    name: str
    role: str
    secret: str


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()


def create_token(session: Session, name: str, role: str) -> IssuedToken:
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if not name.strip():
        raise TokenError("a token needs a name (who or what uses it)")
    public_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    token = f"{PREFIX}_{public_id}_{secret}"
    row = ApiToken(
        public_id=public_id,
        name=name.strip(),
        role=role,
        salt=salt.hex(),
        hash=_hash(token, salt),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return IssuedToken(id=row.id, name=row.name, role=role, secret=token)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise TokenError(f"no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def has_active_admin(session: Session) -> bool:
    return (
        session.scalar(
            select(ApiToken.id).where(ApiToken.role == "admin", ApiToken.revoked_at.is_(None)).limit(1)
        )
        is not None
    )


class TokenVerifier:
    """Checks bearer tokens; caches successful scrypt checks (never failures, never revocation)."""

    def __init__(self) -> None:
        self._verified: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def verify(self, session: Session, token: str) -> Principal | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        row = session.scalar(select(ApiToken).where(ApiToken.public_id == parts[1]))
        if row is None or row.revoked_at is not None:
            return None
        fast = hashlib.sha256(token.encode()).digest()
        with self._lock:
            cached = self._verified.get(fast)
        if cached != row.id:
            if not hmac.compare_digest(_hash(token, bytes.fromhex(row.salt)), row.hash):
                return None
            with self._lock:
                self._verified[fast] = row.id
        now = utcnow()
        if row.last_used is None or now - row.last_used > _LAST_USED_GRANULARITY:
            row.last_used = now
        return Principal(token_id=row.id, name=row.name, role=row.role)


def token_to_json(row: ApiToken) -> dict[str, object]:
    """A token as listed: never the hash or salt."""
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "created_at": iso(row.created_at),
        "last_used": iso(row.last_used),
        "revoked_at": iso(row.revoked_at),
    }
