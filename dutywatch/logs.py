"""structlog, configured once by the entry point: JSON lines for machines, colour for people."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

#: Encodes a log event as one JSON line; a value JSON has no form for is written as its
#: ``str`` (the stdlib renderer's ``repr`` fallback costs twice as much per line).
_json_line = msgspec.json.Encoder(enc_hook=str)


def configure(*, json: bool, level: int = logging.INFO) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if json:
        shared.append(structlog.processors.format_exc_info)
        stream = getattr(sys.stderr, "buffer", None)
        if stream is not None:
            # msgspec writes bytes: the bytes logger writes them without a decode and encode.
            renderer = structlog.processors.JSONRenderer(serializer=_serialize)
            factory: Callable[..., Any] = structlog.BytesLoggerFactory(stream)
        else:
            renderer = structlog.processors.JSONRenderer(serializer=_serialize_text)
            factory = structlog.PrintLoggerFactory(sys.stderr)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard logging module (asyncio, aiohttp) go to stderr too.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")


def _serialize(event: object, **_: object) -> bytes:
    return _json_line.encode(event)


def _serialize_text(event: object, **_: object) -> str:
    return _json_line.encode(event).decode()
