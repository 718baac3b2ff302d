"""The append-only, hash-chained record of everything that happened to an incident."""

from dutywatch.timeline.chain import (
    GENESIS,
    ChainProblem,
    Entry,
    EntryKind,
    Source,
    canonical_bytes,
    entry_hash,
    personal_digest,
    verify_chain,
)

__all__ = [
    "GENESIS",
    "ChainProblem",
    "Entry",
    "EntryKind",
    "Source",
    "canonical_bytes",
    "entry_hash",
    "personal_digest",
    "verify_chain",
]
