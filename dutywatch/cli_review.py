"""``dutywatch review``: the review figures of a subtree and a period, over HTTP."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DESCRIPTION = """\
The review figures (issue 5) of ORG and everything below it, for the incidents opened in
[--from, --to): counts by grade and category; time to first acknowledgement, to report up
the hierarchy and to resolve (count, p50, p90, max in minutes, nearest-rank percentiles);
迟报/漏报 by organisation; escalation levels reached; pages that failed to deliver.
Drills and tests are left out unless --include-drills. Dates are whole days in ORG's time
zone (--to's day included); RFC 3339 times with an offset are accepted too (--to excluded).

--format table (default) prints aligned tables; json the figures as served; csv one line
per incident with its own figures; html and pdf the printable report (--lang zh|en), which
need -o FILE. Calls the HTTP API (--url or $DUTYWATCH_URL, --token or $DUTYWATCH_TOKEN) as a
reviewer, leader, administrator or an officer covering ORG."""


def add_parser(sub: Any, default_url: str) -> None:
    review = sub.add_parser(
        "review",
        help="review figures of an organisation subtree and period (over HTTP)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    review.add_argument("org", help="the subtree's root, e.g. harbin or harbin.daoli")
    review.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    review.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (included)")
    review.add_argument(
        "--format", default="table", choices=["table", "json", "csv", "html", "pdf"]
    )
    review.add_argument("--lang", default="zh", choices=["zh", "en"], help="html and pdf")
    review.add_argument("-o", "--output", type=Path, help="write to FILE instead of stdout")
    review.add_argument("--include-drills", action="store_true", help="count drills and tests")
    review.add_argument("--url", default=None, help=f"default $DUTYWATCH_URL or {default_url}")
    review.add_argument("--token", default=None, help="default $DUTYWATCH_TOKEN")


def aligned(rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[n]) for row in cells if n < len(row)) for n in range(len(cells[0]))]

    def cell(text: str, width: int, raw: Any) -> str:
        number = isinstance(raw, int | float) or raw is None
        return text.rjust(width) if number else text.ljust(width)

    return [
        indent
        + "  ".join(cell(c, w, raw) for c, w, raw in zip(row, widths, raws, strict=False)).rstrip()
        for row, raws in zip(cells, rows, strict=True)
    ]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def table(figures: dict[str, Any]) -> str:
    """The figures as a readable plain-text report."""
    lines = [
        f"Review of {figures['org']} and below: incidents opened in "
        f"[{figures['from']}, {figures['to']})",
        f"as of {figures['as_of']}; drills and tests "
        f"{'included' if figures['include_drills'] else 'left out'}",
        "",
        f"Incidents: {figures['incidents']}",
        *aligned([["by grade", *figures["by_grade"]], ["", *figures["by_grade"].values()]]),
        *aligned(
            [["by category", *figures["by_category"]], ["", *figures["by_category"].values()]]
        ),
        "",
        "Response times (minutes; nearest-rank percentiles)",
    ]
    rows: list[list[Any]] = [["measure", "count", "p50", "p90", "max"]]
    for key, label in (
        ("time_to_acknowledge", "to first acknowledgement"),
        ("time_to_report_up", "to report up"),
        ("time_to_resolve", "to resolve"),
    ):
        s = figures[key]
        rows.append([label, s["count"], *(_minutes(s[k]) for k in ("p50_s", "p90_s", "max_s"))])
    lines += aligned(rows)
    lines += [
        "",
        f"迟报 late {figures['late']}, 漏报 missing {figures['missing']}, "
        f"items omitted {figures['omitted_items']}",
    ]
    by_org: list[list[Any]] = [["organisation", "incidents", "late", "missing", "omitted"]]
    by_org += [
        [o["org"], o["incidents"], o["late"], o["missing"], o["omitted_items"]]
        for o in figures["by_org"]
    ]
    lines += aligned(by_org)
    lines += ["", "Escalation levels reached (0 = the receiving office, 1 = its parent, ...)"]
    levels: list[list[Any]] = [["level", "incidents"]]
    levels += [[x["level"], x["incidents"]] for x in figures["escalation_levels"]]
    lines += aligned(levels)
    failed = figures["failed_pages"]
    lines += ["", f"Pages that failed to deliver: {failed['total']}"]
    if failed["by_channel"]:
        lines += aligned([["channel", "pages"], *failed["by_channel"].items()])
    supervised = figures.get("supervision")
    if supervised is not None:
        rate = supervised["completion_rate"]
        lines += ["", "Supervision (督办): assignments first due in the period"]
        lines += aligned(
            [
                ["due", "on time", "落实率", "closed", "avg days to close", "re-checks failed"],
                [
                    supervised["due"],
                    supervised["on_time"],
                    f"{rate:.0%}" if rate is not None else "-",
                    supervised["closed"],
                    _days(supervised["average_days_to_close"]),
                    f"{supervised['rechecks_failed']} of {supervised['rechecks_answered']}",
                ],
            ]
        )
        if supervised["overdue_by_unit"]:
            lines += aligned([["unit", "overdue"], *supervised["overdue_by_unit"].items()])
    return "\n".join(lines) + "\n"


def _days(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


async def review(args: argparse.Namespace) -> int:
    from dutywatch.cli import http_bytes

    if args.format in ("html", "pdf") and args.output is None:
        print(f"dutywatch: --format {args.format} needs -o FILE", file=sys.stderr)
        return 2
    params = {"org": args.org, "from": args.start, "to": args.end}
    if args.include_drills:
        params["include_drills"] = "true"
    path = {
        "table": "/api/v1/review",
        "json": "/api/v1/review",
        "csv": "/api/v1/review/incidents",
        "html": "/api/v1/review/report",
        "pdf": "/api/v1/review/report",
    }[args.format]
    if args.format in ("csv", "html", "pdf"):
        params["format"] = args.format
    if args.format in ("html", "pdf"):
        params["lang"] = args.lang
    status, body = await http_bytes(args, "GET", path, params=params)
    if status != 200:
        try:
            detail = json.loads(body).get("detail", status)
        except ValueError:  # not problem+json: a proxy's error page
            detail = f"HTTP {status}"
        print(f"dutywatch: {detail}", file=sys.stderr)
        return 1
    if args.format == "table":
        body = table(json.loads(body)).encode()
    if args.output is not None:
        args.output.write_bytes(body)
        print(f"wrote {args.output} ({len(body)} bytes)")
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
