"""iCalendar (RFC 5545) export of shifts, importable into common calendar apps.

Hand-written because the subset is small: one VCALENDAR, one VEVENT per shift, times in UTC
(``...Z``, so no VTIMEZONE is needed and every client shows local time itself), TEXT values
escaped (section 3.3.11), CRLF line ends, and content lines folded at 75 octets (section 3.1)
between characters, never inside a UTF-8 sequence. iCalendar times have whole seconds:
microseconds are dropped.

Each event's UID is derived from (org, role, slot, person, start), not from the end, so when an
override shortens or lengthens a shift, a calendar that subscribed to the export updates the
event instead of showing a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from dutywatch.rosters.model import Role
from dutywatch.rosters.rules import Shift

PRODID = "-//dutywatch//duty rosters//EN"
_MAX_OCTETS = 75
_FOLD = b"\r\n "
_CRLF = b"\r\n"

ROLE_LABELS: Mapping[str, str] = {
    Role.DUTY_OFFICER: "值班员 duty officer",
    Role.LEADER_ON_DUTY: "带班领导 leader on duty",
    Role.DEPUTY_OFFICER: "副班 deputy officer",
    Role.STANDBY: "备班 standby",
}


def render_ics(
    shifts: Iterable[Shift],
    *,
    calendar_name: str,
    person_names: Mapping[str, str] | None = None,
    now: datetime,
) -> bytes:
    """The shifts as one iCalendar object, events in the given order.

    ``person_names`` maps person ids to display names (a missing id shows as itself);
    ``now`` is the DTSTAMP of every event.
    """
    names = person_names or {}
    stamp = _utc(now)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{_text(calendar_name)}",  # RFC 7986
        f"X-WR-CALNAME:{_text(calendar_name)}",  # what older clients read
    ]
    for shift in shifts:
        role = ROLE_LABELS.get(shift.role, shift.role.replace("_", " "))
        person = names.get(shift.person_id, shift.person_id)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{shift_uid(shift)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_utc(shift.starts_at)}",
            f"DTEND:{_utc(shift.ends_at)}",
            f"SUMMARY:{_text(f'{role}: {person}')}",
            f"DESCRIPTION:{_text(f'{shift.org_path} {shift.role} slot {shift.slot}')}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return b"".join(fold_line(line) + _CRLF for line in lines)


def shift_uid(shift: Shift) -> str:
    """A UID that stays the same for the same duty, whatever window exported it."""
    key = "\x1f".join(
        (
            shift.org_path,
            shift.role,
            str(shift.slot),
            shift.person_id,
            shift.starts_at.astimezone(UTC).isoformat(),
        )
    )
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@dutywatch"


def fold_line(line: str) -> bytes:
    """``line`` in UTF-8, folded so that no physical line exceeds 75 octets (CRLF excluded).

    A continuation starts with one space, which counts towards its 75 octets.
    """
    folded = bytearray()
    width = 0
    for char in line:
        octets = char.encode()
        if width + len(octets) > _MAX_OCTETS:
            folded += _FOLD
            width = 1
        folded += octets
        width += len(octets)
    return bytes(folded)


def _utc(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"iCalendar times must be aware datetimes, got {value!r}")
    t = value.astimezone(UTC)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


def _text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): escapes, line breaks as ``\\n``, no control characters.

    Control characters other than tab and line breaks are not allowed in TEXT; they are dropped.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(char for char in value if char in "\t\n" or not (char < " " or char == "\x7f"))
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
