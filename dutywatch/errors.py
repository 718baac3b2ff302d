"""One small exception tree.

Each class's docstring is its default message; structured fields ride on the instance so
the edges (HTTP problem+json, NATS replies, the REJECTED stream, logs) can render them.
"""

from __future__ import annotations

from typing import Any


class DutywatchError(Exception):
    """dutywatch failed; see the log line with the same incident id for details."""

    #: Short machine-readable code, used as the problem+json ``type`` suffix and the
    #: rejection ``reason``.
    code = "error"
    #: HTTP status this error maps to at the web edge.
    http_status = 500

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        self.fields = fields
        super().__init__(self.message)


class ConfigurationError(DutywatchError):
    """The configuration is invalid; check the DUTYWATCH_* environment variables."""

    code = "configuration"


class RejectedInput(DutywatchError):
    """The message was refused; fix it and send it again."""

    code = "rejected"
    http_status = 400


class MalformedJson(RejectedInput):
    """The body is not valid JSON; send a UTF-8 JSON object."""

    code = "malformed_json"


class SchemaViolation(RejectedInput):
    """The message does not match its contract; see `field` and contracts/ for the schema."""

    code = "schema_violation"
    http_status = 422


class UnknownSchema(RejectedInput):
    """The `schema` field names no contract this service accepts (expected dutywatch.report.v1)."""

    code = "unknown_schema"
    http_status = 422


class PayloadTooLarge(RejectedInput):
    """The payload is larger than the 256 KiB limit; move attachments out of the report."""

    code = "payload_too_large"
    http_status = 413


class UnknownOrganisation(RejectedInput):
    """The organisation is not known to this service; check the `org` path or register it."""

    code = "unknown_org"
    http_status = 422


class OrgMismatch(RejectedInput):
    """The report's `org` differs from the organisation it was published for."""

    code = "org_mismatch"
    http_status = 403


class UnknownReference(RejectedInput):
    """The request names something that is not registered (a person, a rotation, a calendar)."""

    code = "unknown_reference"
    http_status = 422


class RosterInvalid(RejectedInput):
    """The change would leave the roster inconsistent; see `field` and the message."""

    code = "roster_invalid"
    http_status = 422


class NotFound(DutywatchError):
    """No such resource; check the id."""

    code = "not_found"
    http_status = 404


class Unauthenticated(DutywatchError):
    """Missing or invalid token; send `Authorization: Bearer <token>`."""

    code = "unauthenticated"
    http_status = 401


class Forbidden(DutywatchError):
    """This token may not do that; ask an administrator for a token scoped to the organisation."""

    code = "forbidden"
    http_status = 403


class RateLimited(DutywatchError):
    """Too many requests for this token; wait for the number of seconds in Retry-After."""

    code = "rate_limited"
    http_status = 429


class Conflict(DutywatchError):
    """The resource changed in a way that forbids this action."""

    code = "conflict"
    http_status = 409


class BusUnavailable(DutywatchError):
    """NATS JetStream did not answer in time; retry the same request shortly."""

    code = "bus_unavailable"
    http_status = 503


class RetryableDatabaseError(DutywatchError):
    """The database asked us to retry (serialization failure or deadlock); retry the operation."""

    code = "retry"
    http_status = 503


class TimelineBroken(DutywatchError):
    """A timeline chain does not verify: an entry was altered outside dutywatch."""

    code = "timeline_broken"
