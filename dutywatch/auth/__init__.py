"""API tokens: random, shown once, stored only as a hash; each has a role and a subtree."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dutywatch import errors
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)

TOKEN_PREFIX = "dw_"  # noqa: S105 - a public prefix, not a secret


class Role(enum.StrEnum):
    OFFICE = "office"  # publishes reports for its own subtree
    OFFICER = "officer"  # acknowledges and acts on incidents of its subtree
    LEADER = "leader"
    REVIEWER = "reviewer"  # reads
    ADMIN = "admin"


@dataclass(frozen=True, kw_only=True)
class Principal:
    label: str
    role: Role
    org_path: str
    person_id: str | None = None

    @property
    def actor(self) -> str:
        return f"person:{self.person_id}" if self.person_id else f"{self.role}:{self.label}"

    @property
    def duty_room(self) -> str | None:
        """The duty room this principal acts for; None for an administrator (any room)."""
        return None if self.role is Role.ADMIN else self.org_path

    def covers(self, org_path: str) -> bool:
        """True if ``org_path`` is this principal's organisation or below it."""
        if self.role is Role.ADMIN:
            return True
        return org_path == self.org_path or org_path.startswith(self.org_path + ".")

    def require(self, allowed: set[Role], org_path: str | None, action: str) -> None:
        if self.role not in allowed and self.role is not Role.ADMIN:
            raise errors.Forbidden(
                f"{action} needs one of the roles {sorted(allowed)}; this token is {self.role}",
                principal=self.label,
            )
        if org_path is not None and not self.covers(org_path):
            raise errors.Forbidden(
                f"{action} on {org_path!r} is outside this token's organisation {self.org_path!r}",
                principal=self.label,
            )

    def require_any(self, allowed: set[Role], org_paths: Sequence[str | None], action: str) -> None:
        """``require`` on the first of ``org_paths`` this principal covers (an incident's
        receiving office or the office it was forwarded to), else on the first of them."""
        paths = [p for p in org_paths if p is not None]
        covered = next((p for p in paths if self.covers(p)), paths[0] if paths else None)
        self.require(allowed, covered, action)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str, key: bytes | None = None) -> bytes:
    """What is stored of a token: HMAC-SHA256 under the server's key (``DUTYWATCH_TOKEN_KEY``),
    so a copy of the database alone cannot even test a guess; without a key, SHA-256 (tokens
    carry 256 random bits, so the stored value is still useless to a thief)."""
    if key:
        return hmac.new(key, token.encode("utf-8"), hashlib.sha256).digest()
    return hashlib.sha256(token.encode("utf-8")).digest()


async def create_token(
    conn: Conn,
    *,
    label: str,
    role: Role,
    org_path: str,
    person_id: str | None = None,
    expires_at: datetime | None = None,
    key: bytes | None = None,
) -> str:
    """Store a new token's hash and return the token itself, which is never stored."""
    token = new_token()
    await queries.exec(
        conn,
        "insert_token",
        token_hash(token, key),
        label,
        str(role),
        org_path,
        person_id,
        expires_at,
        key is not None,
    )
    return token


async def authenticate(
    conn: Conn,
    token: str | None,
    *,
    admin_token: str | None,
    now: datetime,
    key: bytes | None = None,
) -> Principal:
    """The principal a token stands for; :class:`~dutywatch.errors.Unauthenticated` with the
    reason (unknown, revoked, expired) otherwise. Tokens stored before the server had a key
    still work (their rows say ``keyed`` false) until revoked."""
    if not token:
        raise errors.Unauthenticated()
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(label="bootstrap-admin", role=Role.ADMIN, org_path="")
    keyed = token_hash(token, key) if key else None
    plain = token_hash(token)
    candidates = [h for h in (keyed, plain) if h is not None]
    rows = await queries.many(conn, "tokens_by_hash", candidates)
    # A row matches only under the scheme it was stored with.
    row = next(
        (r for r in rows if bytes(r["token_hash"]) == (keyed if r["keyed"] else plain)), None
    )
    if row is None:
        raise errors.Unauthenticated("unknown token; check it was copied whole")
    if row["revoked_at"] is not None:
        raise errors.Unauthenticated("this token was revoked; ask an administrator for a new one")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise errors.Unauthenticated("this token has expired; ask an administrator for a new one")
    return Principal(
        label=row["label"],
        role=Role(row["role"]),
        org_path=row["org_path"],
        person_id=row["person_id"],
    )


async def list_tokens(conn: Conn, org_path: str | None) -> list[dict[str, object]]:
    """Every token (never its value or hash), newest first, optionally of one subtree."""
    return [dict(row) for row in await queries.many(conn, "list_tokens", org_path)]


async def revoke_token(conn: Conn, token_id: int, *, now: datetime) -> bool:
    """Revoke one token; False if it was already revoked. Unknown ids are refused."""
    row = await queries.one(conn, "revoke_token", token_id, now)
    if row is None:
        raise errors.NotFound(f"no token with id {token_id}; `dutywatch token list` shows them")
    return bool(row["changed"])
