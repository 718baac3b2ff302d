"""Command-line parts of the inbound formats: the `report` prompts and `routing-key`.

`dutywatch report` is for a person at a keyboard: when stdin is a terminal it asks for the
required fields that were not given as flags; otherwise it refuses, listing the missing flags
(a script must not hang on a prompt nobody sees).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Final

from dutywatch import errors
from dutywatch.contracts import Category, Grade

#: Required report fields: (argparse dest, flag, prompt, allowed answers or None).
REQUIRED: Final = (
    ("org", "--org", "Organisation path (e.g. harbin.daoli.xinyang)", None),
    ("grade", "--grade", "Grade (I, II, III, IV; I is the most severe)", ("I", "II", "III", "IV")),
    ("title", "--title", "Title (what happened, where)", None),
)
#: Wrong answers in a row before giving up (a closed stdin would loop for ever).
MAX_TRIES: Final = 5


def missing_flags(args: argparse.Namespace) -> list[str]:
    return [flag for dest, flag, _, _ in REQUIRED if not getattr(args, dest)]


def fill_missing(
    args: argparse.Namespace,
    *,
    interactive: bool,
    ask: Callable[[str], str] = input,
) -> None:
    """Ask for each missing required field at a terminal; refuse otherwise, naming the flags."""
    missing = missing_flags(args)
    if not missing:
        return
    if not interactive:
        raise errors.RejectedInput(
            f"missing required flags: {', '.join(missing)} "
            "(give them, or run `dutywatch report` at a terminal to be asked)",
            field=missing[0].removeprefix("--"),
        )
    for dest, flag, prompt, allowed in REQUIRED:
        if getattr(args, dest):
            continue
        for _ in range(MAX_TRIES):
            try:
                answer = ask(f"{prompt}: ").strip()
            except EOFError:
                raise errors.RejectedInput(f"no answer for {flag}", field=dest) from None
            if allowed is not None:
                answer = answer.upper()
            if answer and (allowed is None or answer in allowed):
                setattr(args, dest, answer)
                break
            choices = f" one of {', '.join(allowed)}" if allowed else " something"
            print(f"  please enter{choices}", file=sys.stderr)
        else:
            raise errors.RejectedInput(f"no valid answer for {flag}", field=dest)


def add_routing_key_parser(sub: Any, default_url: str) -> None:
    keys = sub.add_parser(
        "routing-key",
        help="create, list and revoke PagerDuty routing keys (over HTTP, administrators)",
        description="Routing keys for POST /v2/enqueue (PagerDuty Events API v2): each names "
        "the organisation, grade and category its events report as. The key is shown once.",
    )
    keys_sub = keys.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="make a key (printed once)")
    create.add_argument("--label", required=True, help="what sends with it, e.g. prometheus")
    create.add_argument("--org", required=True, help="organisation path its events report for")
    create.add_argument("--grade", required=True, choices=[str(g) for g in Grade])
    create.add_argument("--category", default="accident", choices=[str(c) for c in Category])
    keys_sub.add_parser("list", help="every key (without the keys themselves)")
    revoke = keys_sub.add_parser("revoke", help="refuse a key's events from now on")
    revoke.add_argument("key_id", type=int)
    for action in keys_sub.choices.values():
        action.add_argument("--url", default=None, help=f"default $DUTYWATCH_URL or {default_url}")
        action.add_argument("--token", default=None, help="default $DUTYWATCH_TOKEN")


HttpCall = Callable[..., Any]


async def routing_key(args: argparse.Namespace, http: HttpCall, problems: HttpCall) -> int:
    if args.key_command == "create":
        body = {
            "label": args.label,
            "org": args.org,
            "grade": args.grade,
            "category": args.category,
        }
        status, result = await http(args, "POST", "/api/v1/routing-keys", json=body)
        expected = 201
    elif args.key_command == "list":
        status, result = await http(args, "GET", "/api/v1/routing-keys")
        expected = 200
    else:
        status, result = await http(args, "DELETE", f"/api/v1/routing-keys/{args.key_id}")
        expected = 200
    if status != expected:
        problems(result)
        return 1
    for key in result.get("routing_keys", [result]):
        revoked = f" revoked {key['revoked_at']}" if key["revoked_at"] else ""
        print(
            f"{key['id']}\t{key['label']}\t{key['org']}\tgrade {key['grade']}\t"
            f"{key['category']}{revoked}"
        )
    if "routing_key" in result:
        print(f"routing key (shown once, keep it secret): {result['routing_key']}")
    return 0
