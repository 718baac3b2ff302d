"""The rows of the review figures, read in six queries whatever the number of incidents."""

from __future__ import annotations

import json
from datetime import datetime

from dutywatch.review.figures import (
    AlertRow,
    ClockRow,
    IncidentRow,
    OmissionRow,
    OverdueReport,
    ReceiptRow,
    ReportRow,
    Rows,
)
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)


async def load(
    conn: Conn, *, org: str, start: datetime, end: datetime, include_drills: bool
) -> Rows:
    """Every incident of ``org``'s subtree opened in ``[start, end)``, with what it caused.

    One repeatable-read snapshot, so the rows agree with each other.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        incidents = [
            IncidentRow(**dict(r))
            for r in await queries.many(conn, "incidents_opened", org, start, end, include_drills)
        ]
        ids = [i.id for i in incidents]
        if not ids:
            return Rows()
        entries = await queries.many(conn, "review_entries_of", ids)
        overdue, omissions = [], []
        for entry in entries:
            body = json.loads(entry["body"])
            if entry["kind"] == "fields_omitted":
                omissions.append(
                    OmissionRow(incident_id=entry["incident_id"], items=len(body["fields"]))
                )
            else:
                overdue.append(
                    OverdueReport(
                        incident_id=entry["incident_id"],
                        stage=body["kind"],
                        number=body.get("number"),
                    )
                )
        return Rows(
            incidents=incidents,
            alerts=[AlertRow(**dict(r)) for r in await queries.many(conn, "alerts_of", ids)],
            clocks=[ClockRow(**dict(r)) for r in await queries.many(conn, "clocks_of", ids)],
            overdue=overdue,
            reports=[
                ReportRow(**dict(r)) for r in await queries.many(conn, "report_stages_of", ids)
            ],
            omissions=omissions,
            receipts=[ReceiptRow(**dict(r)) for r in await queries.many(conn, "receipts_of", ids)],
        )
