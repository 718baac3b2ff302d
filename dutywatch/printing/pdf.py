"""PDF for printable documents: the font every report is set in, and an A4 document builder
with the one page layout (margins, footer with page numbers, paragraph and table styles)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from xml.sax.saxutils import escape as xml_escape

from dutywatch import errors
from dutywatch.printing.text import Lang, html_lang, t

#: A CJK TrueType font to embed in PDFs instead of the built-in STSong-Light.
PDF_FONT_ENV: Final = "DUTYWATCH_PDF_FONT"

#: reportlab's built-in Adobe CID font for simplified Chinese: no font file is needed, readers
#: supply the glyphs (every PDF reader ships it or a substitute).
CID_FONT: Final = "STSong-Light"
_EMBEDDED_FONT: Final = "DutywatchCJK"
#: A4 is 210 mm wide; the left and right margins leave this much for text and tables.
_MARGIN_MM: Final = 15
_USABLE_WIDTH_MM: Final = 210 - 2 * _MARGIN_MM


def pdf_font(font_path: str | None = None) -> str:
    """Register and name the font PDFs are set in.

    ``font_path`` (or ``$DUTYWATCH_PDF_FONT``) names a CJK TrueType font to embed; without
    one, the built-in CID font STSong-Light is used, for both languages: the record itself
    (titles, places, names) is Chinese whatever the language of the labels.
    """
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    path = font_path or os.environ.get(PDF_FONT_ENV) or None
    if path is None:
        if CID_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
        return CID_FONT
    name = f"{_EMBEDDED_FONT}-{hashlib.sha256(path.encode()).hexdigest()[:12]}"
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            pdfmetrics.registerFont(TTFont(name, path))
        except (OSError, TTFError) as exc:
            raise errors.ConfigurationError(
                f"{PDF_FONT_ENV}={path!r} is not a readable TrueType font ({exc}); "
                "name a .ttf with Chinese glyphs, or unset it to use STSong-Light"
            ) from exc
    return name


@dataclass
class PdfDocument:
    """An A4 document built from headings, paragraphs, label/value lists, tables and images.

    Text is always escaped for reportlab's paragraph markup; lines wrap the CJK way (any
    character may start a line). ``footer`` is printed on every page with its number.
    """

    title: str
    lang: Lang
    footer: str = ""
    #: PDF subject (document information): what kind of document this is.
    subject: str = ""
    #: PDF keywords (document information): machine-readable facts such as the stated head.
    keywords: str = ""
    font_path: str | None = None
    #: A fixed creation date and document id, so that the same content gives the same bytes.
    invariant: bool = False
    _story: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        from reportlab.lib.styles import ParagraphStyle

        self.font = pdf_font(self.font_path)
        base = ParagraphStyle("body", fontName=self.font, fontSize=9, leading=12.5, wordWrap="CJK")
        self.styles = {
            "body": base,
            "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10),
            "title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, spaceAfter=6),
            "heading": ParagraphStyle(
                "heading", parent=base, fontSize=12, leading=16, spaceBefore=10, spaceAfter=4
            ),
            "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10.5),
        }

    def _p(self, text: str, style: str = "body") -> Any:
        from reportlab.platypus import Paragraph

        return Paragraph(xml_escape(text).replace("\n", "<br/>"), self.styles[style])

    def heading(self, text: str, *, level: int = 2) -> None:
        self._story.append(self._p(text, "title" if level == 1 else "heading"))

    def paragraph(self, text: str, *, small: bool = False) -> None:
        self._story.append(self._p(text, "small" if small else "body"))

    def pairs(self, rows: Iterable[tuple[str, str]]) -> None:
        """Label/value lines, as a two-column table."""
        self.table([], [[label, value] for label, value in rows], widths=(0.25, 0.75))

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[float] | None,
        highlight: Iterable[int] = (),
    ) -> None:
        """A table over the page width (``widths`` are fractions of it), or as wide as its
        content and set left (``widths=None``); ``highlight`` rows (indexes into ``rows``) get
        a tinted background."""
        from reportlab.lib import colors
        from reportlab.lib.units import mm
        from reportlab.platypus import Table, TableStyle

        data = [[self._p(cell, "cell") for cell in row] for row in ([header] if header else [])]
        data += [[self._p(cell, "cell") for cell in row] for row in rows]
        table = Table(
            data,
            colWidths=[_USABLE_WIDTH_MM * mm * w for w in widths] if widths else None,
            repeatRows=1 if header else 0,
            hAlign="CENTER" if widths else "LEFT",
        )
        style: list[tuple[Any, ...]] = [
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")))
        offset = 1 if header else 0
        for index in highlight:
            row = index + offset
            style.append(("BACKGROUND", (0, row), (-1, row), colors.HexColor("#fde2e1")))
        table.setStyle(TableStyle(style))
        self._story.append(table)

    def image(self, data: bytes, *, width_mm: float, height_mm: float) -> None:
        """A raster image (PNG), scaled to fit ``width_mm`` by ``height_mm`` keeping its shape."""
        from reportlab.lib.units import mm
        from reportlab.platypus import Image

        self._story.append(
            Image(io.BytesIO(data), width=width_mm * mm, height=height_mm * mm, kind="proportional")
        )

    def spacer(self, height_mm: float = 3) -> None:
        from reportlab.lib.units import mm
        from reportlab.platypus import Spacer

        self._story.append(Spacer(1, height_mm * mm))

    def page_break(self) -> None:
        from reportlab.platypus import PageBreak

        self._story.append(PageBreak())

    def build(self) -> bytes:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.platypus import SimpleDocTemplate

        out = io.BytesIO()
        footer, font, lang = self.footer, self.font, self.lang

        def decorate(canvas: Any, doc: Any) -> None:
            canvas.saveState()
            canvas.setFont(font, 7)
            canvas.drawString(_MARGIN_MM * mm, 8 * mm, footer)
            page = t("doc.page", lang, page=doc.page)
            canvas.drawRightString(A4[0] - _MARGIN_MM * mm, 8 * mm, page)
            canvas.restoreState()

        document = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=_MARGIN_MM * mm,
            rightMargin=_MARGIN_MM * mm,
            topMargin=15 * mm,
            bottomMargin=16 * mm,
            title=self.title,
            author="dutywatch",
            creator="dutywatch",
            subject=self.subject,
            keywords=[self.keywords],
            lang=html_lang(lang),
            invariant=int(self.invariant),
        )
        document.build(self._story, onFirstPage=decorate, onLaterPages=decorate)
        return out.getvalue()
