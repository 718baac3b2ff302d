"""The `dutywatch` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from dutywatch import (
    __version__,
    cli_exports,
    cli_inbound,
    cli_review,
    cli_rosters,
    cli_supervision,
    cli_tokens,
    errors,
    logs,
)
from dutywatch.clock import SystemClock

UP_PG_PORT = 15432
UP_NATS_PORT = 14222
DEFAULT_NATS_URL = f"nats://127.0.0.1:{UP_NATS_PORT}"
DEFAULT_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{UP_PG_PORT}/dutywatch"
DEFAULT_HTTP_URL = "http://127.0.0.1:8080"

log = structlog.get_logger("dutywatch.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dutywatch",
        description="Route emergency reports to the staff on duty, escalate, keep the record.",
    )
    parser.add_argument("--version", action="version", version=f"dutywatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="run everything locally: embedded PostgreSQL and NATS, demo data, HTTP",
        description="Start an embedded PostgreSQL and nats-server as child processes, "
        "apply migrations, load a demo (unless --no-demo) and serve HTTP. Data is kept "
        "in --data-dir across restarts. Ctrl-C stops everything.",
    )
    up.add_argument(
        "--data-dir", type=Path, default=Path(".dutywatch"), help="default ./.dutywatch"
    )
    up.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT to serve HTTP on")
    up.add_argument("--nats-port", type=int, default=UP_NATS_PORT, help=f"default {UP_NATS_PORT}")
    up.add_argument("--pg-port", type=int, default=UP_PG_PORT, help=f"default {UP_PG_PORT}")
    up.add_argument("--no-demo", action="store_true", help="do not load the demo organisations")
    up.add_argument(
        "--json-logs",
        action="store_true",
        help="log JSON lines as `serve` does (cheaper per line than the readable form; "
        "docs/BENCHMARKS.md runs the bench this way)",
    )

    sub.add_parser(
        "serve",
        help="run the service against DUTYWATCH_DATABASE_URL and DUTYWATCH_NATS_URL",
        description="The production path: JSON logs, external PostgreSQL and NATS. "
        "Configuration is read from DUTYWATCH_* variables (see README).",
    )
    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--database-url", default=None, help="default $DUTYWATCH_DATABASE_URL")

    report = sub.add_parser(
        "report",
        help="publish a report (首报 by default) on the bus",
        description="Publish one report to the REPORTS stream; it takes the same intake path "
        "as NATS and HTTP reports. Prints the report id. At a terminal, asks for --org, "
        "--grade and --title when they are not given; elsewhere, refuses naming them.",
    )
    report.add_argument("--org", help="organisation path, e.g. harbin.daoli (asked if missing)")
    report.add_argument(
        "--grade", choices=["I", "II", "III", "IV"], help="event grade (asked if missing)"
    )
    report.add_argument("--title", help="what happened, where (asked if missing)")
    report.add_argument(
        "--category",
        default="accident",
        choices=["natural_disaster", "accident", "public_health", "social_safety"],
    )
    report.add_argument(
        "--stage", default="first", choices=["first", "follow_up", "final", "supplementary"]
    )
    report.add_argument("--incident-ref", help="reporter's incident reference (new one if omitted)")
    report.add_argument("--summary", default="")
    report.add_argument("--location", help="place, as text")
    report.add_argument("--reporter", default=os.environ.get("USER", "duty desk"))
    report.add_argument("--phone", help="reporter's phone")
    report.add_argument("--status", default="actual", choices=["actual", "exercise", "test"])
    report.add_argument(
        "--nats-url", default=None, help=f"default $DUTYWATCH_NATS_URL or {DEFAULT_NATS_URL}"
    )

    _add_incident_parsers(sub)

    _add_policy_parser(sub)
    cli_inbound.add_routing_key_parser(sub, DEFAULT_HTTP_URL)

    _add_integrity_parsers(sub)
    cli_exports.add_export_parser(sub, DEFAULT_DATABASE_URL, DEFAULT_HTTP_URL)

    _add_bench_parser(sub)
    cli_rosters.add_parsers(sub, DEFAULT_DATABASE_URL)
    cli_supervision.add_parsers(sub, DEFAULT_HTTP_URL)
    cli_tokens.add_parsers(sub, DEFAULT_DATABASE_URL)
    cli_review.add_parser(sub, DEFAULT_HTTP_URL)
    return parser


def _add_bench_parser(sub: Any) -> None:
    bench = sub.add_parser(
        "bench",
        help="publish reports against a running service and print throughput and latency",
    )
    bench.add_argument("--reports", type=int, default=2000, help="how many reports (default 2000)")
    bench.add_argument("--rate", type=float, default=500.0, help="reports per second to offer")
    bench.add_argument("--org", default="harbin.daoli", help="organisation to report for")
    bench.add_argument(
        "--nats-url", default=None, help=f"default $DUTYWATCH_NATS_URL or {DEFAULT_NATS_URL}"
    )
    bench.add_argument("--database-url", default=None, help="to print the durability settings")
    bench.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for pages")
    bench.add_argument(
        "--timers",
        type=int,
        default=None,
        metavar="N",
        help="instead of reports: measure how late timers fire with N timers pending "
        "(needs --database-url of the running service)",
    )
    bench.add_argument(
        "--due", type=int, default=2000, help="with --timers: how many fall due (default 2000)"
    )
    bench.add_argument(
        "--spread", type=float, default=20.0, help="with --timers: over how many seconds"
    )
    bench.add_argument(
        "--sustained",
        action="store_true",
        help="offer doubling rates from --rate, --step-seconds each, until the service "
        "falls behind; print the achieved end-to-end rate",
    )
    bench.add_argument("--max-rate", type=float, default=16000.0, help="with --sustained")
    bench.add_argument("--step-seconds", type=float, default=5.0, help="with --sustained")
    bench.add_argument(
        "--ack",
        type=int,
        default=None,
        metavar="N",
        help="instead of reports: open N incidents, acknowledge each over dutywatch.cmd.ack "
        "at --rate and time escalation stopped and the acknowledged event "
        "(token from --token or $DUTYWATCH_TOKEN: an officer of --org)",
    )
    bench.add_argument("--token", default=None, help="with --ack: default $DUTYWATCH_TOKEN")
    bench.add_argument(
        "--memory",
        type=int,
        default=None,
        metavar="N",
        help="instead of reports: seed N open incidents and print the service's memory "
        "(needs --service-pid and --database-url)",
    )
    bench.add_argument(
        "--service-pid",
        type=int,
        default=None,
        help="the service's process id (`dutywatch up` or `serve`): print its CPU per report "
        "(and its children's: PostgreSQL and nats-server under `up`), read from /proc",
    )


def _add_integrity_parsers(sub: Any) -> None:
    """verify, anchor, purge and retention: straight to PostgreSQL, like the service."""
    verify = sub.add_parser(
        "verify",
        help="check every timeline chain, its personal data and the daily anchors (or an "
        "export file); exit 1 naming each problem",
        description="Check every incident's timeline chain, the personal data still held "
        "against its digests, and the daily anchors; or with --export FILE an export: a JSON "
        "export's chain is recomputed from the file (and personal data checked against its "
        "digests); every export's stated head must still be in the record at its entry. A "
        "record that has moved on since is reported, not counted as a problem.",
    )
    cli_exports.add_verify_arguments(verify)
    anchor = sub.add_parser(
        "anchor",
        help="anchor every complete UTC day not anchored yet (the worker does this daily)",
    )
    anchor.add_argument(
        "--grace",
        type=float,
        default=None,
        help="seconds after midnight UTC before a day counts as complete "
        "(default $DUTYWATCH_ANCHOR_GRACE or 900)",
    )
    purge = sub.add_parser(
        "purge",
        help="destroy the personal data of one incident everywhere in the database (Art. 85)",
        description="Deletes the incident's personal data (and the salts of its digests), "
        "strips the personal fields from its stored reports and from refused copies of them, "
        "and records a personal_data_purged timeline entry. The chain still verifies. "
        "Refused while a retention hold is set; a second purge changes nothing.",
    )
    purge.add_argument("--incident", type=int, required=True, metavar="ID")
    purge.add_argument("--reason", required=True, help="why, for the record")
    retention = sub.add_parser(
        "retention",
        help="set or release a retention hold that keeps an incident's personal data",
    )
    retention.add_argument("action", choices=["hold", "release"])
    retention.add_argument("--incident", type=int, required=True, metavar="ID")
    retention.add_argument("--reason", required=True, help="why, for the record")
    for command in (verify, anchor, purge, retention):
        command.add_argument(
            "--database-url",
            default=None,
            help=f"default $DUTYWATCH_DATABASE_URL or {DEFAULT_DATABASE_URL}",
        )
    for command in (purge, retention):
        command.add_argument(
            "--by",
            default=None,
            help="who decides (recorded as cli:NAME; default $USER)",
        )


def _add_policy_parser(sub: Any) -> None:
    policy = sub.add_parser(
        "policy",
        help="create, list, show, validate, retire and simulate escalation policies (over HTTP)",
        description="Escalation policies over the HTTP API (--url or $DUTYWATCH_URL, --token or "
        "$DUTYWATCH_TOKEN). A policy is a JSON document; see README 'Escalation policies'.",
    )
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    for name, text in (
        ("create", "save a policy document as the next version of its id (refused if unsound)"),
        ("validate", "check a policy document without saving it"),
    ):
        action = policy_sub.add_parser(name, help=text, description=text)
        action.add_argument("file", help="the policy document (JSON), or - for stdin")
    listing = policy_sub.add_parser("list", help="the policies in force")
    listing.add_argument("--org", help="only this organisation's subtree")
    show = policy_sub.add_parser("show", help="every version of one policy")
    show.add_argument("policy_id")
    retire = policy_sub.add_parser("retire", help="retire every version of one policy")
    retire.add_argument("policy_id")
    simulate = policy_sub.add_parser(
        "simulate",
        help="print what would happen if nobody acknowledged (dry run on the real roster)",
        description="Print the timeline an incident of this organisation, grade and category "
        "would get if nobody ever acknowledged: alerts opened, who is paged when (from the "
        "rosters at each time), reporting clocks running out. Nothing is stored or sent.",
    )
    simulate.add_argument("--org", required=True, help="organisation path of the incident")
    simulate.add_argument("--grade", required=True, choices=["I", "II", "III", "IV"])
    simulate.add_argument(
        "--category",
        default="accident",
        choices=["natural_disaster", "accident", "public_health", "social_safety"],
    )
    simulate.add_argument("--at", help="start time (RFC 3339 with offset); default now")
    simulate.add_argument("--hours", type=float, default=24.0, help="how far ahead (default 24)")
    simulate.add_argument("--sensitive", action="store_true", help="a sensitive event")
    simulate.add_argument("--json", action="store_true", help="print the raw JSON")
    for action in (policy_sub.choices[n] for n in policy_sub.choices):
        action.add_argument(
            "--url", default=None, help=f"default $DUTYWATCH_URL or {DEFAULT_HTTP_URL}"
        )
        action.add_argument("--token", default=None, help="default $DUTYWATCH_TOKEN")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "up": _up,
        "serve": _serve,
        "migrate": _migrate,
        "report": _report,
        "ack": _ack,
        "resolve": _resolve,
        "note": _note,
        "instruct": _instruct,
        "dead-letters": _dead_letters,
        "policy": _policy,
        "routing-key": _routing_key,
        "verify": _verify,
        "anchor": _anchor,
        "purge": _purge,
        "retention": _retention,
        "export": cli_exports.export,
        "bench": _bench,
        "roster": _roster,
        "oncall": cli_rosters.oncall,
        "supervise": cli_supervision.run,
        "token": cli_tokens.run,
        "review": cli_review.review,
    }[args.command]
    try:
        result: int = asyncio.run(handler(args))
    except errors.DutywatchError as exc:
        print(f"dutywatch: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


async def _wait_for_signal(stop: asyncio.Event) -> str:
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    await stop.wait()
    return received[0] if received else "worker failure"


async def _run_service(settings: Any, banner: str | None) -> int:
    from aiohttp import web

    from dutywatch.web.app import RUNTIME, create_app

    app = create_app(settings, SystemClock())
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    runtime = app[RUNTIME]
    runtime.supervisor.on_stop(stop.set)
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        log.info("serving", http=f"http://{settings.http_host}:{settings.http_port}")
        if banner:
            print(banner, flush=True)
        why = await _wait_for_signal(stop)
        log.info("stopping", reason=why)
    finally:
        await runner.cleanup()
    if runtime.supervisor.failed:
        print(f"dutywatch: stopped because {runtime.supervisor.failed}", file=sys.stderr)
        return 1
    return 0


async def _up(args: argparse.Namespace) -> int:
    from dutywatch import demo, migrations
    from dutywatch.config import Settings, _parse_host_port
    from dutywatch.embedded import EmbeddedNats, EmbeddedPostgres

    logs.configure(json=args.json_logs)
    host, port = _parse_host_port(args.http)
    data_dir = _prepare_data_dir(args.data_dir)
    postgres = EmbeddedPostgres(data_dir / "postgres", port=args.pg_port)
    nats_server = EmbeddedNats(data_dir / "nats", port=args.nats_port)
    try:
        print(f"starting PostgreSQL in {data_dir / 'postgres'} ...", flush=True)
        database_url = await postgres.start()
        print(f"starting nats-server (JetStream) in {data_dir / 'nats'} ...", flush=True)
        nats_url = await nats_server.start()
        await migrations.migrate_url(database_url)
        tokens_file = data_dir / "demo-tokens.txt"
        if not args.no_demo:
            import asyncpg

            conn = await asyncpg.connect(database_url)
            try:
                if not await demo.is_loaded(conn):
                    tokens = await demo.load(conn, datetime.now(UTC))
                    tokens_file.write_text(
                        "".join(f"{k}={v}\n" for k, v in vars(tokens).items()), encoding="utf-8"
                    )
                    tokens_file.chmod(0o600)
            finally:
                await conn.close()
        settings = Settings(
            database_url=database_url,
            nats_url=nats_url,
            http_host=host,
            http_port=port,
            admin_token=os.environ.get("DUTYWATCH_ADMIN_TOKEN"),
            json_logs=args.json_logs,
        )
        return await _run_service(settings, _up_banner(settings, tokens_file))
    finally:
        await nats_server.stop()
        await postgres.stop()
        print("dutywatch stopped; PostgreSQL and nats-server are down.", flush=True)


def _prepare_data_dir(path: Path) -> Path:
    data_dir = path.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def _up_banner(settings: Any, tokens_file: Path) -> str:
    tokens = ""
    if tokens_file.exists():
        tokens = f"  demo tokens:   {tokens_file} (keep them secret)\n"
    return (
        "\ndutywatch is up.\n"
        f"  HTTP:          http://{settings.http_host}:{settings.http_port}\n"
        f"  NATS:          {settings.nats_url}\n"
        f"  PostgreSQL:    {settings.database_url}\n"
        f"{tokens}"
        "\nPublish a first report (首报):\n"
        f"  DUTYWATCH_NATS_URL={settings.nats_url} dutywatch report --org harbin.daoli.xinyang "
        "--grade III --title '道路塌陷'\n"
        "Then list incidents:\n"
        f'  curl -H "Authorization: Bearer $(grep ^admin= {tokens_file} | cut -d= -f2)" '
        f"http://{settings.http_host}:{settings.http_port}/api/v1/incidents\n"
        "Ctrl-C stops the service, PostgreSQL and nats-server.\n"
    )


async def _serve(args: argparse.Namespace) -> int:
    from dutywatch.config import from_env

    settings = from_env()
    logs.configure(json=settings.json_logs)
    return await _run_service(settings, None)


async def _migrate(args: argparse.Namespace) -> int:
    from dutywatch import migrations

    logs.configure(json=not sys.stderr.isatty())
    url = args.database_url or os.environ.get("DUTYWATCH_DATABASE_URL")
    if not url:
        raise errors.ConfigurationError("set DUTYWATCH_DATABASE_URL or pass --database-url")
    applied = await migrations.migrate_url(url)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def _nats_url(value: str | None) -> str:
    return value or os.environ.get("DUTYWATCH_NATS_URL") or DEFAULT_NATS_URL


async def _report(args: argparse.Namespace) -> int:
    import nats

    from dutywatch import bus
    from dutywatch.contracts import decode_report

    cli_inbound.fill_missing(args, interactive=sys.stdin.isatty())
    now = datetime.now(UTC).isoformat()
    payload: dict[str, Any] = {
        "schema": "dutywatch.report.v1",
        "report_id": str(uuid.uuid4()),
        "incident_ref": args.incident_ref or f"cli-{uuid.uuid4().hex[:12]}",
        "org": args.org,
        "stage": args.stage,
        "grade": args.grade,
        "category": args.category,
        "title": args.title,
        "summary": args.summary,
        "occurred_at": now,
        "reported_at": now,
        "status": args.status,
        "reporter": {"name": args.reporter, **({"phone": args.phone} if args.phone else {})},
    }
    if args.location:
        payload["location"] = {"text": args.location}
    body = json.dumps(payload, ensure_ascii=False).encode()
    decode_report(body)  # refuse locally what intake would refuse
    prefix = os.environ.get("DUTYWATCH_SUBJECT_PREFIX", "dutywatch")
    nc = await nats.connect(_nats_url(args.nats_url), connect_timeout=5)
    try:
        ack = await bus.publish_idempotent(
            nc.jetstream(),
            f"{prefix}.report.{args.org}",
            body,
            msg_id=payload["report_id"],
            headers={bus.SOURCE_HEADER: "cli"},
        )
    finally:
        await nc.close()
    print(
        f"report {payload['report_id']} published "
        f"(incident_ref {payload['incident_ref']}, stream seq {ack.seq})"
    )
    return 0


def _add_incident_parsers(sub: Any) -> None:
    """ack, resolve, note, instruct: the incident commands, over HTTP."""
    ack = sub.add_parser("ack", help="acknowledge an incident over HTTP")
    ack.add_argument("incident_id", type=int)
    ack.add_argument("--note")
    _add_http_options(ack)

    resolve = sub.add_parser("resolve", help="resolve (close) an incident over HTTP")
    resolve.add_argument("incident_id", type=int)
    resolve.add_argument("--note", help="the resolution note, kept on the timeline")
    _add_http_options(resolve)

    note = sub.add_parser(
        "note",
        help="add a note to an incident's timeline, or correct an earlier entry",
        description="Add a note to an incident's timeline over HTTP. Files named with --attach "
        "are not uploaded: their name, size, media type and SHA-256 are recorded, so the "
        "timeline proves which file was meant. --corrects N makes the note a correction of "
        "entry N (nothing on the timeline is ever edited).",
    )
    note.add_argument("incident_id", type=int)
    note.add_argument("text")
    note.add_argument("--corrects", type=int, metavar="SEQ", help="the entry this corrects")
    note.add_argument(
        "--attach", action="append", default=[], metavar="FILE", help="a file to describe"
    )
    note.add_argument("--location", help="where the attached files are kept (document store)")
    _add_http_options(note)

    instruct = sub.add_parser(
        "instruct", help="record a leader's instruction (批示) on an incident over HTTP"
    )
    instruct.add_argument("incident_id", type=int)
    instruct.add_argument("text")
    instruct.add_argument("--leader", help="who gave it, if not the token's holder")
    _add_http_options(instruct)

    dead = sub.add_parser(
        "dead-letters",
        help="contact methods that gave up on a page (administrators), newest first",
        description="List dead letters over HTTP: each is a contact method (webhook, e-mail, "
        "SMS) that failed every try for a page, with the last reason; the page went on to the "
        "person's next method. docs/OPERATIONS.md says what to do.",
    )
    dead.add_argument("--since", help="RFC 3339 time with an offset")
    dead.add_argument("--incident", type=int)
    dead.add_argument("--limit", type=int, default=100)
    _add_http_options(dead)


def _add_http_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help=f"default $DUTYWATCH_URL or {DEFAULT_HTTP_URL}")
    parser.add_argument("--token", default=None, help="default $DUTYWATCH_TOKEN")


def http_target(args: argparse.Namespace) -> tuple[str, str]:
    """The API URL and token of a command that calls HTTP (--url, --token, or environment)."""
    url = args.url or os.environ.get("DUTYWATCH_URL") or DEFAULT_HTTP_URL
    token = args.token or os.environ.get("DUTYWATCH_TOKEN")
    if not token:
        raise errors.ConfigurationError("set DUTYWATCH_TOKEN or pass --token")
    return url, token


async def _ack(args: argparse.Namespace) -> int:
    return await _command(args, "ack", "acknowledged")


async def _resolve(args: argparse.Namespace) -> int:
    return await _command(args, "resolve", "resolved")


async def _command(args: argparse.Namespace, verb: str, done: str) -> int:
    body = {"note": args.note} if args.note else {}
    status, result = await _http(
        args, "POST", f"/api/v1/incidents/{args.incident_id}/{verb}", json=body
    )
    if status != 200:
        _print_problems(result)
        return 1
    changed = done if result["changed"] else f"was already {done}"
    print(f"incident {result['incident_id']} {changed} (state {result['state']})")
    return 0


def _describe_file(path: str, location: str | None) -> dict[str, Any]:
    import hashlib
    import mimetypes
    from pathlib import Path

    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise errors.ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    described: dict[str, Any] = {
        "name": file.name,
        "media_type": mimetypes.guess_type(file.name)[0] or "application/octet-stream",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if location:
        described["location"] = location
    return described


async def _note(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "text": args.text,
        "attachments": [_describe_file(path, args.location) for path in args.attach],
        "command_id": str(uuid.uuid4()),
    }
    if args.corrects is not None:
        body["corrects"] = args.corrects
    return await _add_entry(args, "notes", body)


async def _instruct(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"text": args.text, "command_id": str(uuid.uuid4())}
    if args.leader:
        body["leader"] = args.leader
    return await _add_entry(args, "instructions", body)


async def _add_entry(args: argparse.Namespace, what: str, body: dict[str, Any]) -> int:
    status, result = await _http(
        args, "POST", f"/api/v1/incidents/{args.incident_id}/{what}", json=body
    )
    if status not in (200, 201):
        _print_problems(result)
        return 1
    print(f"incident {result['incident_id']}: entry {result['seq']} ({result['kind']}) added")
    return 0


async def _dead_letters(args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit)}
    if args.since:
        params["since"] = args.since
    if args.incident:
        params["incident"] = str(args.incident)
    status, body = await _http(args, "GET", "/api/v1/dead-letters", params=params)
    if status != 200:
        _print_problems(body)
        return 1
    for letter in body["dead_letters"]:
        print(
            f"{letter['at']}  incident {letter['incident_id']}  page {letter['page_id']}  "
            f"{letter['person_id']}  {letter['channel']} (contact {letter['contact_id']}, "
            f"tries {letter['first_attempt']}-{letter['last_attempt']})  {letter['reason']}"
        )
    if not body["dead_letters"]:
        print("no dead letters")
    return 0


async def _http(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """Call the HTTP API with the command's --url and --token; (status, decoded body)."""
    status, body = await http_bytes(args, method, path, **kwargs)
    return status, json.loads(body) if body else None


async def http_bytes(
    args: argparse.Namespace, method: str, path: str, **kwargs: Any
) -> tuple[int, bytes]:
    """Call the HTTP API with the command's --url and --token; (status, raw body)."""
    import aiohttp

    url, token = http_target(args)
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"{url}{path}",
            # The service records the source of what the command line does as `cli`.
            headers={"Authorization": f"Bearer {token}", "Dutywatch-Client": "cli"},
            **kwargs,
        ) as response,
    ):
        return response.status, await response.read()


def _print_problems(body: Any) -> None:
    print(f"dutywatch: {body.get('detail', body)}", file=sys.stderr)
    for problem in body.get("problems") or []:
        where = f"step {problem['step']}: " if problem.get("step") is not None else ""
        print(f"  - [{problem['code']}] {where}{problem['message']}", file=sys.stderr)


def _print_policy(document: dict[str, Any]) -> None:
    print(
        f"{document['ref']}  {document['org']}  grades {'/'.join(document['grades'])}  "
        f"categories {'/'.join(document['categories'])}"
    )
    for index, step in enumerate(document["steps"]):
        detail = {k: v for k, v in step.items() if k not in ("kind", "delay")}
        print(
            f"  {index}. +{step['delay']}  {step['kind']}  {json.dumps(detail, ensure_ascii=False)}"
        )


async def _routing_key(args: argparse.Namespace) -> int:
    return await cli_inbound.routing_key(args, _http, _print_problems)


async def _policy(args: argparse.Namespace) -> int:
    actions = {
        "create": _policy_save,
        "validate": _policy_save,
        "list": _policy_list,
        "show": _policy_versions,
        "retire": _policy_versions,
        "simulate": _simulate,
    }
    return await actions[args.policy_command](args)


async def _policy_save(args: argparse.Namespace) -> int:
    if args.file == "-":
        text = await asyncio.to_thread(sys.stdin.read)
    else:
        text = await asyncio.to_thread(Path(args.file).read_text, "utf-8")
    create = args.policy_command == "create"
    path = "/api/v1/policies" if create else "/api/v1/policies/validate"
    status, body = await _http(args, "POST", path, data=text.encode())
    if status not in (200, 201):
        _print_problems(body)
        return 1
    _print_policy(body["policy"])
    for warning in body["warnings"]:
        print(f"  warning [{warning['code']}]: {warning['message']}")
    print("saved" if create else "valid (not saved)")
    return 0


async def _policy_list(args: argparse.Namespace) -> int:
    status, body = await _http(
        args, "GET", "/api/v1/policies", params={"org": args.org} if args.org else {}
    )
    if status != 200:
        _print_problems(body)
        return 1
    for document in body["policies"]:
        _print_policy(document)
    if not body["policies"]:
        print("no stored policies: every duty room runs the default policy")
    return 0


async def _policy_versions(args: argparse.Namespace) -> int:
    retire = args.policy_command == "retire"
    status, body = await _http(
        args, "DELETE" if retire else "GET", f"/api/v1/policies/{args.policy_id}"
    )
    if status != 200:
        _print_problems(body)
        return 1
    if retire:
        print(f"retired {body['retired_versions']} version(s) of {body['id']}")
    for document in body.get("versions", []):
        _print_policy(document)
        retired = f", retired {document['retired_at']}" if "retired_at" in document else ""
        print(f"  saved {document['created_at']} by {document['created_by']}{retired}")
    return 0


async def _simulate(args: argparse.Namespace) -> int:
    params = {
        "org": args.org,
        "grade": args.grade,
        "category": args.category,
        "hours": str(args.hours),
        "sensitive": "true" if args.sensitive else "false",
    }
    if args.at:
        params["at"] = args.at
    status, body = await _http(args, "GET", "/api/v1/policies/simulate", params=params)
    if status != 200:
        _print_problems(body)
        return 1
    if args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    print(
        f"If nobody acknowledges a grade {body['grade']} {body['category']} incident of "
        f"{body['org']} from {body['start']}:"
    )
    for event in body["events"]:
        seconds = int(event["offset_s"])
        offset = f"+{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        line = f"{offset}  {event['org']:<24} {event['text']}"
        people = event.get("people")
        if people is not None:
            named = ", ".join(
                f"{p['name'] or p['id']} ({p['id']})" + (" [same page]" if p["merged"] else "")
                for p in people
            )
            line += f" -> {named or 'NOBODY ON DUTY'}"
            if event.get("landed_in") and event["landed_in"] != event["org"]:
                line += f" in {event['landed_in']}"
        if event.get("policy"):
            line += f"  [{event['policy']}]"
        print(line)
    if body["truncated"]:
        print(f"... (cut at {body['horizon_s'] / 3600:g} h; pass --hours for more)")
    return 0


def _database_url(args: argparse.Namespace) -> str:
    return args.database_url or os.environ.get("DUTYWATCH_DATABASE_URL") or DEFAULT_DATABASE_URL


async def _verify(args: argparse.Namespace) -> int:
    import asyncpg

    from dutywatch.supervision.service import verify_matters
    from dutywatch.timeline.store import verify_everything

    if args.export:
        return await cli_exports.verify_export(args, DEFAULT_DATABASE_URL)

    conn = await asyncpg.connect(_database_url(args))
    try:
        result = await verify_everything(conn)
        matters, matter_problems = await verify_matters(conn)
    finally:
        await conn.close()
    for problem in result.problems:
        print(f"ALTERED: {problem}")
    for matter in matter_problems:
        print(
            f"ALTERED: matter (instruction) {matter.incident_id} entry {matter.seq}: "
            f"{matter.problem}"
        )
    if not result.personal_checked:
        print("note: this role may not read personal_data; its digests were not checked")
    latest = result.anchors.latest
    if latest is not None:
        # Kept elsewhere (a printout, another system), it proves the anchors later.
        print(f"latest anchor: {latest.day} {latest.hash.hex()}")
    if result.problems or matter_problems:
        print(
            f"{len(result.problems) + len(matter_problems)} problem(s) in {result.incidents} "
            f"incident timeline(s), {matters} standalone matter(s) and "
            f"{result.anchors.anchors} daily anchor(s); see docs/OPERATIONS.md "
            "'When verify fails'",
            file=sys.stderr,
        )
        return 1
    print(
        f"ok: {result.incidents} incident timeline(s) verified, {matters} standalone matter "
        f"chain(s) verified, every chain intact; {result.anchors.anchors} daily anchor(s) hold"
    )
    return 0


async def _anchor(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from dutywatch import db
    from dutywatch.config import from_env
    from dutywatch.timeline.anchoring import anchor_complete_days

    url = _database_url(args)
    grace = from_env(database_url=url, nats_url="nats://unused").anchor_grace
    if args.grace is not None:
        grace = timedelta(seconds=args.grace)
    pool = await db.create_pool(url, size=1)
    try:
        made = await anchor_complete_days(pool, datetime.now(UTC), grace)
    finally:
        await pool.close()
    for anchor in made:
        print(f"anchored {anchor.day}: {len(anchor.heads)} incident(s), {anchor.hash.hex()}")
    if not made:
        print("nothing to anchor: every complete day is anchored")
    return 0


async def _decide(
    args: argparse.Namespace, decide: Callable[..., Awaitable[dict[str, Any]]], *positional: Any
) -> dict[str, Any]:
    """Run a purge or hold decision straight on the database, as ``cli:NAME`` with the reason."""
    from dutywatch import db
    from dutywatch.timeline import Source

    pool = await db.create_pool(_database_url(args), size=1)
    try:
        return await decide(
            pool,
            *positional,
            actor=f"cli:{args.by or os.environ.get('USER') or 'unknown'}",
            reason=args.reason,
            source=Source.CLI,
            now=datetime.now(UTC),
        )
    finally:
        await pool.close()


async def _purge(args: argparse.Namespace) -> int:
    from dutywatch.config import from_env
    from dutywatch.timeline import purge

    # The subject prefix finds the outbox copies of refused reports.
    settings = from_env(database_url=_database_url(args), nats_url="nats://unused")
    result = await _decide(args, purge.purge, settings, args.incident)
    if not result["changed"]:
        print(result["message"])
        return 0
    done = result["purged"]
    print(
        f"incident {args.incident}: personal data of {done['personal_data_rows']} entr(y/ies) "
        f"destroyed, {done['reports_stripped']} report(s) stripped, "
        f"{done['rejections_scrubbed']} refused message(s) scrubbed; recorded as entry "
        f"{result['seq']}"
    )
    return 0


async def _retention(args: argparse.Namespace) -> int:
    from functools import partial

    from dutywatch.timeline import purge

    hold = args.action == "hold"
    result = await _decide(args, partial(purge.set_hold, hold=hold), args.incident)
    if not result["changed"]:
        print(result["message"])
    else:
        print(f"incident {args.incident}: retention hold {'set' if hold else 'released'}")
    return 0


async def _bench(args: argparse.Namespace) -> int:
    import nats

    from dutywatch import bench
    from dutywatch.config import DEFAULT_ACK_TIMEOUTS, _parse_ack_timeouts
    from dutywatch.contracts import Grade

    env_timeouts = os.environ.get("DUTYWATCH_ACK_TIMEOUTS")
    timeouts = _parse_ack_timeouts(env_timeouts) if env_timeouts else DEFAULT_ACK_TIMEOUTS
    ack_timeout = timeouts[Grade.IV].total_seconds()
    database_url = args.database_url or os.environ.get("DUTYWATCH_DATABASE_URL")
    if args.timers is not None:
        return await bench.run_timer_bench(
            database_url=database_url or DEFAULT_DATABASE_URL,
            pending=args.timers,
            due=args.due,
            spread=args.spread,
            org=args.org,
            ack_timeout=ack_timeout,
        )
    nc = await nats.connect(_nats_url(args.nats_url), max_reconnect_attempts=-1)
    target = bench.Target(
        nc=nc,
        subject_prefix=os.environ.get("DUTYWATCH_SUBJECT_PREFIX", "dutywatch"),
        stream_prefix=os.environ.get("DUTYWATCH_STREAM_PREFIX", ""),
        org=args.org,
    )
    try:
        if args.memory is not None:
            if args.service_pid is None:
                raise errors.ConfigurationError("--memory needs --service-pid of the service")
            return await bench.run_memory_bench(
                target,
                database_url=database_url or DEFAULT_DATABASE_URL,
                open_incidents=args.memory,
                service_pid=args.service_pid,
                ack_timeout=ack_timeout,
                timeout=args.timeout,
            )
        if args.ack is not None:
            token = args.token or os.environ.get("DUTYWATCH_TOKEN")
            if not token:
                raise errors.ConfigurationError(
                    "--ack needs --token or DUTYWATCH_TOKEN: an officer's token for --org "
                    "(`dutywatch up` writes officer_daoli to demo-tokens.txt)"
                )
            return await bench.run_ack_bench(
                target,
                database_url=database_url,
                incidents=args.ack,
                rate=args.rate,
                token=token,
                timeout=args.timeout,
            )
        if args.sustained:
            return await bench.run_sustained(
                target,
                database_url=database_url,
                start_rate=args.rate,
                max_rate=args.max_rate,
                seconds=args.step_seconds,
                timeout=args.timeout,
                service_pid=args.service_pid,
            )
        return await bench.run_bench(
            target,
            database_url=database_url,
            reports=args.reports,
            rate=args.rate,
            timeout=args.timeout,
            service_pid=args.service_pid,
        )
    finally:
        await nc.close()


async def _roster(args: argparse.Namespace) -> int:
    if args.roster_command == "import":
        return await cli_rosters.roster_import(args)
    return await cli_rosters.roster_show(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
