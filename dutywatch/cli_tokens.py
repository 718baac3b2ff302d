"""The token commands of the CLI: `dutywatch token create|list|revoke`.

They talk to PostgreSQL directly (``--database-url`` or ``DUTYWATCH_DATABASE_URL``): whoever
runs them holds the database credentials, which is what makes them the administrator's tool.
A new token is printed once and never stored; it is hashed under ``DUTYWATCH_TOKEN_KEY``
(HMAC-SHA256) when that is set, so set it the same as the service's.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from dutywatch import auth, errors
from dutywatch.cli_rosters import _database_url, table
from dutywatch.config import parse_secret_key


def add_parsers(sub: Any, default_database_url: str) -> None:
    """Add `token` (with `create`, `list`, `revoke`) to the CLI's subcommands."""
    token = sub.add_parser(
        "token",
        help="create, list or revoke API tokens",
        description="API tokens: random, shown once, stored only as a hash; each has a role, "
        "an organisation subtree, an optional expiry, and can be revoked.",
    )
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a token and print it once",
        description="Create a token and print it on stdout, once: it is not stored and cannot "
        "be shown again. Pass it to its holder over a channel you trust.",
    )
    create.add_argument("--role", required=True, choices=[r.value for r in auth.Role])
    create.add_argument("--org", required=True, help="the organisation subtree it covers")
    create.add_argument("--person", help="the person it belongs to (officers and leaders)")
    create.add_argument("--label", help="a name for it in `token list` (default role-org)")
    create.add_argument(
        "--expires-in",
        type=int,
        default=365,
        metavar="DAYS",
        help="days until it expires (default 365; 0 = never)",
    )
    listing = actions.add_parser("list", help="list tokens (never their values)")
    listing.add_argument("--org", help="only tokens of this subtree")
    revoke = actions.add_parser("revoke", help="revoke a token by its id (see `token list`)")
    revoke.add_argument("id", type=int)
    for parser in (create, listing, revoke):
        parser.add_argument(
            "--database-url", help=f"default $DUTYWATCH_DATABASE_URL or {default_database_url}"
        )
        parser.set_defaults(default_database_url=default_database_url)


def _token_key() -> bytes | None:
    value = os.environ.get("DUTYWATCH_TOKEN_KEY")
    return parse_secret_key("DUTYWATCH_TOKEN_KEY", value) if value else None


async def run(args: argparse.Namespace) -> int:
    import asyncpg

    key = _token_key() if args.action == "create" else None
    conn = await asyncpg.connect(_database_url(args))
    try:
        if args.action == "create":
            return await _create(conn, args, key)
        if args.action == "list":
            return await _list(conn, args)
        now = datetime.now(UTC)
        changed = await auth.revoke_token(conn, args.id, now=now)
        print(f"token {args.id} {'revoked' if changed else 'was already revoked'}")
        return 0
    finally:
        await conn.close()


async def _create(conn: Any, args: argparse.Namespace, key: bytes | None) -> int:
    if args.expires_in < 0:
        raise errors.RejectedInput("--expires-in must be 0 (never) or a number of days")
    known = await conn.fetchval("SELECT count(*) FROM orgs WHERE path = $1", args.org)
    if not known:
        raise errors.RejectedInput(f"organisation {args.org!r} is not registered", field="org")
    expires = datetime.now(UTC) + timedelta(days=args.expires_in) if args.expires_in else None
    token = await auth.create_token(
        conn,
        label=args.label or f"{args.role}-{args.org}",
        role=auth.Role(args.role),
        org_path=args.org,
        person_id=args.person,
        expires_at=expires,
        key=key,
    )
    print(token)
    return 0


async def _list(conn: Any, args: argparse.Namespace) -> int:
    rows = await auth.list_tokens(conn, args.org)

    def when(value: Any) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"

    print(
        table(
            ["id", "label", "role", "org", "person", "created", "expires", "revoked"],
            [
                [
                    str(r["id"]),
                    str(r["label"]),
                    str(r["role"]),
                    str(r["org_path"]),
                    str(r["person_id"] or "-"),
                    when(r["created_at"]),
                    when(r["expires_at"]),
                    when(r["revoked_at"]),
                ]
                for r in rows
            ],
        )
    )
    return 0
