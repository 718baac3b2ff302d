"""``dutywatch supervise ...``: supervision (督办) over the HTTP API, like ``policy``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dutywatch import errors

#: Steps taken on one assignment: command → (route verb, help).
STEPS = {
    "accept": ("accept", "the unit takes the assignment on (assigned → accepted)"),
    "start": ("start", "the unit is carrying it out (accepted or sent back → in progress)"),
    "feedback": ("feedback", "反馈: the unit reports back (→ reported); --text required"),
    "verify": ("verify", "the supervisor accepts the feedback (reported → verified)"),
    "send-back": ("send-back", "the supervisor refuses the feedback; --reason and --due required"),
    "close": ("close", "the supervisor closes it (verified → closed); --recheck-at for 回头看"),
}


def add_parsers(sub: Any, default_url: str) -> None:
    supervise = sub.add_parser(
        "supervise",
        help="supervision (督办): instructions, assignments, feedback, re-checks (over HTTP)",
        description="Leaders' instructions assigned to units, chased, reported back, verified "
        "and looked back at, over the HTTP API (--url or $DUTYWATCH_URL, --token or "
        "$DUTYWATCH_TOKEN). Times are RFC 3339 with an offset, e.g. 2026-11-28T17:00:00+08:00.",
    )
    actions = supervise.add_subparsers(dest="supervise_command", required=True, metavar="ACTION")
    instruct = actions.add_parser(
        "instruct",
        help="give an instruction (批示) with one or more assignments (leaders)",
        description="Give an instruction on an incident (--incident) or standing alone for a "
        "matter from elsewhere. Each --assign is UNIT,RESPONSIBLE,SUPERVISOR,DUE.",
    )
    instruct.add_argument("--text", required=True, help="the instruction, word for word")
    instruct.add_argument(
        "--assign",
        action="append",
        required=True,
        metavar="UNIT,RESPONSIBLE,SUPERVISOR,DUE",
        help="an assignment: unit org path, responsible person id, supervisor person id, due "
        "time; repeat for several units",
    )
    instruct.add_argument("--incident", type=int, help="the incident it is on (else standalone)")
    instruct.add_argument("--org", help="the assigning office (default the token's)")
    instruct.add_argument("--leader", help="who gave it, if not the token's person")
    for name, (_, text) in STEPS.items():
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("assignment", type=int, help="the assignment id")
        if name in ("feedback", "verify"):
            action.add_argument("--text", required=name == "feedback", help="what was done")
        if name == "feedback":
            action.add_argument(
                "--attachments",
                help="a JSON file with a list of attachments' metadata "
                "(name, media_type, size, sha256, location)",
            )
        if name == "send-back":
            action.add_argument("--reason", required=True, help="why it is sent back")
            action.add_argument("--due", required=True, help="the new due time")
        if name == "close":
            action.add_argument("--recheck-at", help="when to ask the supervisor to re-check")
    recheck = actions.add_parser(
        "recheck",
        help="二次反馈: answer a look-back (回头看); a result that did not hold reopens it",
        description="The supervisor's answer to a re-check. --holds no reopens the assignment "
        "to in_progress with the new --due.",
    )
    recheck.add_argument("assignment", type=int, help="the assignment id")
    recheck.add_argument("--holds", required=True, choices=["yes", "no"])
    recheck.add_argument("--text", required=True, help="what the re-check found")
    recheck.add_argument("--due", help="the new due time (required with --holds no)")
    listing = actions.add_parser("list", help="a unit's open assignments, earliest due first")
    listing.add_argument("--unit", help="the unit's org path (default the token's)")
    chase = actions.add_parser("chase", help="a supervisor's chase list, earliest due first")
    chase.add_argument("--supervisor", help="person id (default the token's person)")
    figures = actions.add_parser(
        "figures",
        help="落实率, overdue by unit, average days to close, re-checks failed",
        description="Figures over the assignments of the subtree first due in [--from, --to).",
    )
    figures.add_argument("--org", help="organisation (default the token's)")
    figures.add_argument("--from", dest="start", required=True, help="start of the period")
    figures.add_argument("--to", dest="end", required=True, help="end of the period (excluded)")
    for action in actions.choices.values():
        action.add_argument("--url", default=None, help=f"default $DUTYWATCH_URL or {default_url}")
        action.add_argument("--token", default=None, help="default $DUTYWATCH_TOKEN")


def _assignment_line(a: dict[str, Any]) -> str:
    flag = "  OVERDUE" if a["overdue"] else ""
    return (
        f"#{a['id']}  {a['state']:<11}  {a['unit']}  responsible {a['responsible']}  "
        f"supervisor {a['supervisor']}  due {a['due_at']}{flag}"
    )


def _parse_assign(text: str) -> dict[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(parts):
        raise errors.ConfigurationError(
            f"--assign takes UNIT,RESPONSIBLE,SUPERVISOR,DUE, got {text!r}"
        )
    unit, responsible, supervisor, due = parts
    return {"unit": unit, "responsible": responsible, "supervisor": supervisor, "due_at": due}


async def run(args: argparse.Namespace) -> int:
    from dutywatch.cli import _http, _print_problems

    command = args.supervise_command
    method, path, body = "POST", "", None
    if command == "instruct":
        path = "/api/v1/instructions"
        body = {"text": args.text, "assignments": [_parse_assign(a) for a in args.assign]}
        for key, value in (("incident_id", args.incident), ("org", args.org)):
            if value is not None:
                body[key] = value
        if args.leader:
            body["leader"] = args.leader
    elif command in STEPS:
        path = f"/api/v1/assignments/{args.assignment}/{STEPS[command][0]}"
        body = await _step_body(args)
    elif command == "recheck":
        path = f"/api/v1/assignments/{args.assignment}/recheck"
        body = {"holds": args.holds == "yes", "text": args.text}
        if args.due:
            body["due_at"] = args.due
    else:
        method, path, params = "GET", *_reading(args)
        query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items() if v)
        path = f"{path}?{query}" if query else path
    status, result = await _http(args, method, path, **({"json": body} if body is not None else {}))
    if status not in (200, 201):
        _print_problems(result)
        return 1
    _print(command, result)
    return 0


async def _step_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if getattr(args, "text", None):
        body["text"] = args.text
    if getattr(args, "attachments", None):
        text = await asyncio.to_thread(Path(args.attachments).read_text, "utf-8")
        body["attachments"] = json.loads(text)
    if args.supervise_command == "send-back":
        body.update(reason=args.reason, due_at=args.due)
    if getattr(args, "recheck_at", None):
        body["recheck_at"] = args.recheck_at
    return body


def _reading(args: argparse.Namespace) -> tuple[str, dict[str, str | None]]:
    if args.supervise_command == "list":
        return "/api/v1/assignments", {"unit": args.unit}
    if args.supervise_command == "chase":
        return "/api/v1/assignments/chase", {"supervisor": args.supervisor}
    params = {"org": args.org, "from": args.start, "to": args.end}
    return "/api/v1/supervision/figures", params


def _print(command: str, result: dict[str, Any]) -> None:
    if command == "instruct":
        where = f"incident {result['incident_id']}" if result["incident_id"] else "standalone"
        print(f"instruction {result['id']} ({where}) by {result['leader']}")
        for a in result["assignments"]:
            print(f"  {_assignment_line(a)}")
    elif command in ("list", "chase"):
        for a in result["assignments"]:
            print(f"{_assignment_line(a)}  — {a['instruction']}")
        if not result["assignments"]:
            print("nothing open")
    elif command == "figures":
        rate = result["completion_rate"]
        print(f"{result['org']}  {result['from']} to {result['to']}")
        print(
            f"  due {result['due']}, on time {result['on_time']}, 落实率 "
            + (f"{rate:.1%}" if rate is not None else "n/a")
        )
        for unit, count in result["overdue_by_unit"].items():
            print(f"  overdue in {unit}: {count}")
        days = result["average_days_to_close"]
        print(
            f"  closed {result['closed']}, average days to close "
            + (f"{days:.2f}" if days is not None else "n/a")
        )
        print(
            f"  re-checks answered {result['rechecks_answered']}, "
            f"failed {result['rechecks_failed']}"
        )
    else:
        print(_assignment_line(result))
