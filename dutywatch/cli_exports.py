"""The export commands of the CLI: ``dutywatch export`` and ``dutywatch verify --export``.

``export`` reads PostgreSQL directly (``--database-url`` or ``DUTYWATCH_DATABASE_URL``), like
``verify`` and the roster commands, through the same reader and renderers as the HTTP API;
with ``--token`` (or ``--url``) it asks the HTTP API instead, as a token's holder may.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from dutywatch import errors

#: How long `verify --export` waits for a database it was not told about explicitly.
PROBE_TIMEOUT = 3.0


def add_export_parser(sub: Any, default_database_url: str, default_http_url: str) -> None:
    export = sub.add_parser(
        "export",
        help="export one incident's record: JSON, CSV, or a printable HTML/PDF report",
        description="Write one incident's record to a file. json: complete and "
        "machine-checkable (every hashed field of every entry; `dutywatch verify --export` "
        "recomputes its chain offline). csv: one line per timeline entry. html/pdf: the "
        "printable report (summary, response times, late items, timeline, who was on duty) "
        "in Chinese (zh, default) or English (en). Every export states the chain head it was "
        "made from. Reads the database directly unless --token or --url is given.",
    )
    export.add_argument("incident_id", type=int)
    export.add_argument(
        "--format", choices=["json", "csv", "html", "pdf"], default="pdf", help="default pdf"
    )
    export.add_argument(
        "--lang", choices=["zh", "en"], default="zh", help="labels in 简体中文 (default) or English"
    )
    export.add_argument(
        "-o",
        "--output",
        help="file to write ('-' for standard output); default the suggested name, "
        "e.g. incident-7-entry-12-zh.pdf",
    )
    export.add_argument(
        "--database-url",
        default=None,
        help=f"default $DUTYWATCH_DATABASE_URL or {default_database_url}",
    )
    export.add_argument(
        "--font",
        default=None,
        help="a CJK TrueType font to embed in PDFs "
        "(default $DUTYWATCH_PDF_FONT, else STSong-Light)",
    )
    export.add_argument(
        "--url", default=None, help=f"ask the HTTP API at URL (e.g. {default_http_url})"
    )
    export.add_argument(
        "--token",
        default=None,
        help="ask the HTTP API with this token (or $DUTYWATCH_TOKEN with --url)",
    )
    export.set_defaults(default_database_url=default_database_url)


def add_verify_arguments(verify: Any) -> None:
    verify.add_argument(
        "--export",
        metavar="FILE",
        help="check an export file instead: a JSON export's chain is recomputed from the file; "
        "every export's stated head is checked against the database",
    )
    verify.add_argument(
        "--offline",
        action="store_true",
        help="with --export FILE.json: check the file alone, without a database",
    )


def _database_url(args: argparse.Namespace, default: str) -> tuple[str, bool]:
    """The URL and whether the user named it (explicitly or through the environment)."""
    named = args.database_url or os.environ.get("DUTYWATCH_DATABASE_URL")
    return (named or default), bool(named)


async def export(args: argparse.Namespace) -> int:
    if args.token or args.url:
        filename, body = await _export_over_http(args)
    else:
        filename, body = await _export_from_database(args)
    if args.output == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return 0
    path = Path(args.output or filename)
    await asyncio.to_thread(path.write_bytes, body)
    print(f"wrote {path} ({len(body)} bytes)", file=sys.stderr)
    return 0


async def _export_from_database(args: argparse.Namespace) -> tuple[str, bytes]:
    import asyncpg

    from dutywatch import exports
    from dutywatch.clock import SystemClock
    from dutywatch.exports import store

    url, _ = _database_url(args, args.default_database_url)
    conn = await asyncpg.connect(url)
    try:
        record = await store.load(conn, args.incident_id, now=SystemClock().now())
    finally:
        await conn.close()
    rendered = await asyncio.to_thread(
        exports.render, record, args.format, args.lang, font_path=args.font
    )
    return rendered.filename, rendered.body


async def _export_over_http(args: argparse.Namespace) -> tuple[str, bytes]:
    import aiohttp

    from dutywatch.cli import http_target

    url, token = http_target(args)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{url}/api/v1/incidents/{args.incident_id}/export",
            params={"format": args.format, "lang": args.lang},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        body = await response.read()
        if response.status != 200:
            raise errors.DutywatchError(
                f"the server refused the export ({response.status}): "
                + body.decode(errors="replace")
            )
        disposition = response.content_disposition
        filename = (disposition.filename if disposition else None) or (
            f"incident-{args.incident_id}.{args.format}"
        )
    return filename, body


async def verify_export(args: argparse.Namespace, default_database_url: str) -> int:
    """Check one export file; print each finding; 1 if anything is wrong."""
    import asyncpg

    from dutywatch.exports.verify import check_against_database, read_export

    path = Path(args.export)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise errors.ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    found = read_export(data)
    findings = list(found.findings)
    if found.head is not None and not args.offline:
        url, named = _database_url(args, default_database_url)
        try:
            conn = await asyncpg.connect(url, timeout=PROBE_TIMEOUT)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            if named or found.format != "json":
                raise errors.ConfigurationError(
                    f"cannot reach the database to check the stated head ({exc}); "
                    "pass --database-url"
                    + (
                        " or --offline to check the JSON file alone"
                        if found.format == "json"
                        else ""
                    )
                ) from exc
            print(f"NOTE: no database at {url}: the file was checked alone")
        else:
            try:
                findings += await check_against_database(conn, found)
            finally:
                await conn.close()
    elif args.offline and found.format != "json":
        raise errors.ConfigurationError(
            f"a {found.format.upper()} export can only be checked against the database; "
            "drop --offline"
        )
    for finding in findings:
        print(finding)
    problems = sum(f.level == "problem" for f in findings)
    if problems:
        print(f"{path}: {problems} problem(s)", file=sys.stderr)
        return 1
    return 0
