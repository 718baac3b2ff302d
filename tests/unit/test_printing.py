"""The shared printing layer: the incident export and the review report are set in the same
font, on the same page skeleton, with the same words for the same keys."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest
import reportlab

from dutywatch import printing
from dutywatch.exports.incident import export_html, export_pdf
from dutywatch.review import printable
from dutywatch.review.figures import Figures, IncidentRow, Rows, compute
from tests.unit.test_exports_pure import _chain, _record

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
TITLE = "道外区<script>alert(1)</script>火情"


def _review() -> Figures:
    incident = IncidentRow(
        id=41,
        org_path="harbin.daoli",
        title=TITLE,
        grade="II",
        category="accident",
        status="actual",
        opened_at=START + timedelta(hours=5),
    )
    return compute(
        Rows(incidents=[incident]),
        org="harbin",
        start=START,
        end=START + timedelta(days=7),
        as_of=START + timedelta(days=8),
    )


def _incident_pdf(lang: printing.Lang) -> bytes:
    return export_pdf(_record(*_chain([{"text": "已派人到场"}])), lang)


def _incident_html(lang: printing.Lang) -> str:
    return export_html(_record(*_chain([{"text": "已派人到场"}])), lang)


def _fonts(pdf: bytes) -> set[str]:
    """The fonts a PDF's pages are set in, less Helvetica (reportlab's initial font)."""
    names = {
        str(font.get_object()["/BaseFont"])
        for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
        for font in page["/Resources"]["/Font"].values()
    }
    return names - {"/Helvetica"}


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_both_reports_are_set_in_the_same_font(monkeypatch: pytest.MonkeyPatch) -> None:
    review_pdf = printable.pdf(_review(), zone=ZONE, lang="zh")
    assert _fonts(review_pdf) == _fonts(_incident_pdf("zh")) == {f"/{printing.CID_FONT}"}

    # One setting moves both onto an embedded TrueType font (reportlab ships Vera; a
    # deployment names a CJK one).
    vera = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")
    monkeypatch.setenv(printing.PDF_FONT_ENV, vera)
    embedded = _fonts(printable.pdf(_review(), zone=ZONE, lang="en"))
    assert embedded == _fonts(_incident_pdf("en"))
    [name] = embedded
    assert "BitstreamVeraSans" in name  # the file's font, embedded (as a subset)


@pytest.mark.parametrize("lang", printing.LANGS)
def test_the_same_key_reads_the_same_in_both_reports(lang: printing.Lang) -> None:
    review_html = printable.html(_review(), zone=ZONE, lang=lang)
    review_text = " ".join(_text(printable.pdf(_review(), zone=ZONE, lang=lang)).split())
    incident_html = _incident_html(lang)
    incident_text = " ".join(_text(_incident_pdf(lang)).split())

    # Words both print come from one key: the response-time column, "none" (no failed
    # pages; nobody paged), and the page number in the PDF footer.
    assert f"<th>{printing.t('col.measure', lang)}</th>" in review_html
    assert f"<td>{printing.t('value.none', lang)}</td>" in review_html
    assert f"<p>{printing.t('value.none', lang)}</p>" in incident_html
    for key in ("col.measure", "value.none"):
        assert printing.t(key, lang) in review_text, key
        assert printing.t(key, lang) in incident_text, key
    page_one = printing.t("doc.page", lang, page=1)
    assert page_one in review_text
    assert page_one in incident_text
    # The review's own words are from the same table, in the language asked for.
    assert printing.t("review.title", lang) in review_text
    assert f"{printing.t('review.incidents', lang)}: 1" in review_html
    # Grades and categories in the tables are named, not shown as their codes.
    assert f"<td>{printing.t('category.accident', lang)}</td>" in review_html
    assert f"<td>{printing.t('grade.II', lang)}</td>" in review_html
    assert "<td>natural_disaster</td>" not in review_html
    # Times in the list are local, like the summary's, not UTC stamps.
    assert "+00:00" not in review_html


@pytest.mark.parametrize("lang", printing.LANGS)
def test_both_pages_stand_on_the_same_skeleton(lang: printing.Lang) -> None:
    review_html = printable.html(_review(), zone=ZONE, lang=lang)
    incident_html = _incident_html(lang)
    for page in (review_html, incident_html):
        assert f'<html lang="{printing.html_lang(lang)}">' in page
        assert "default-src 'none'" in page  # the CSP: no scripts, nothing external
        assert "@page { size: A4;" in page
        assert "<script" not in page
        # No label left as its key.
        assert not [key for key in printing.TEXT if key in page]
    # A value is text, never markup: the title is escaped by the template engine.
    assert "道外区&lt;script&gt;alert(1)&lt;/script&gt;火情" in review_html
    assert review_html.count('src="data:image/svg+xml;base64,') == 2


def test_a_review_pdf_reads_back_and_is_reproducible() -> None:
    first = printable.pdf(_review(), zone=ZONE, lang="zh")
    assert first == printable.pdf(_review(), zone=ZONE, lang="zh")
    reader = pypdf.PdfReader(io.BytesIO(first))
    assert reader.metadata is not None
    assert reader.metadata.title == "值班工作复盘统计 · harbin"
    text = " ".join(_text(first).split())
    assert TITLE in text  # PDF text is escaped for reportlab's markup, shown as written
    assert "事件总数: 1" in text
    assert not [key for key in printing.TEXT if key in text]
