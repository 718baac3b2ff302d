"""Notes, corrections, instructions and delivery receipts as pure rules."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch import errors
from dutywatch.delivery.plan import Delivery, status
from dutywatch.delivery.receipts import Receipt, fact
from dutywatch.incidents import notes
from dutywatch.orgs.kinds import ContactKind
from dutywatch.timeline import EntryKind
from tests.unit.test_contracts import _an_incident

texts = st.text(min_size=1, max_size=50).filter(str.strip)


@given(seq=st.integers(0, 500), corrects=st.integers(-5, 505), text=texts)
def test_a_correction_names_an_existing_entry_or_is_refused(
    seq: int, corrects: int, text: str
) -> None:
    incident = replace(_an_incident(), timeline_seq=seq)
    if 1 <= corrects <= seq:
        made = notes.note(incident, text=text, corrects=corrects)
        assert made.kind is EntryKind.CORRECTION
        assert made.body == {"text": text.strip(), "corrects": corrects}
    else:
        with pytest.raises(errors.SchemaViolation) as refused:
            notes.note(incident, text=text, corrects=corrects)
        assert refused.value.fields["field"] == "corrects"


@given(text=st.text(alphabet=" \t\n", max_size=5))
def test_blank_text_is_refused(text: str) -> None:
    with pytest.raises(errors.SchemaViolation):
        notes.note(_an_incident(), text=text)
    with pytest.raises(errors.SchemaViolation):
        notes.instruction(_an_incident(), text=text, leader="person:zhang-wei")


def test_a_note_keeps_its_attachments_metadata() -> None:
    photo = notes.Attachment(name="a.jpg", media_type="image/jpeg", size=3, sha256="0" * 64)
    made = notes.note(_an_incident(), text=" 现场照片 ", attachments=[photo])
    assert made.kind is EntryKind.NOTE
    assert made.body == {
        "text": "现场照片",
        "attachments": [
            {
                "name": "a.jpg",
                "media_type": "image/jpeg",
                "size": 3,
                "sha256": "0" * 64,
                "location": None,
            }
        ],
    }


@given(st.lists(st.booleans(), max_size=8), st.randoms())
def test_a_page_is_delivered_once_any_attempt_succeeded(oks: list[bool], rnd: object) -> None:
    shuffled = list(oks)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    got = status(shuffled)
    assert got == status(oks), "order does not matter"
    if not oks:
        assert got is Delivery.PENDING
    else:
        assert (got is Delivery.DELIVERED) == any(oks)


@given(ok=st.booleans(), detail=st.none() | st.text(min_size=1, max_size=20))
def test_a_receipt_entry_names_page_person_and_channel(ok: bool, detail: str | None) -> None:
    receipt = Receipt(
        receipt_id=uuid.uuid4(), page_id=7, channel=ContactKind.SMS, ok=ok, detail=detail
    )
    made = fact(receipt, person_id="li-na")
    assert made.kind is (EntryKind.PAGE_DELIVERED if ok else EntryKind.PAGE_FAILED)
    assert {k: made.body[k] for k in ("page_id", "person_id", "channel", "attempt")} == {
        "page_id": 7,
        "person_id": "li-na",
        "channel": "sms",
        "attempt": 1,
    }
    if detail and not ok:
        assert made.body["reason"] == detail
