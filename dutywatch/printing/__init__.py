"""The printing layer every printable report is built on (the incident export, the review
report): one place for fonts, page layout and words.

``text.py`` the zh/en table of every visible word (:data:`TEXT`), the language choice and how
times and durations read; ``html.py`` Jinja2 rendering with autoescaping over the shared page
skeleton and its print CSS (``templates/page.html.j2``); ``pdf.py`` the font PDFs are set in
(STSong-Light, or the TrueType font ``$DUTYWATCH_PDF_FONT`` names) and the A4 document builder
(:class:`PdfDocument`) with the one page layout.

A new report adds its keys to :data:`TEXT`, writes a template that extends ``page.html.j2``
and lays its PDF out with :class:`PdfDocument`.
"""

from __future__ import annotations

from dutywatch.printing.html import render_html
from dutywatch.printing.pdf import CID_FONT, PDF_FONT_ENV, PdfDocument, pdf_font
from dutywatch.printing.text import (
    DEFAULT_LANG,
    DEFAULT_ZONE,
    LANGS,
    TEXT,
    Lang,
    duration_text,
    html_lang,
    lang_of,
    local_time,
    t,
    t_or,
    zone_label,
)

__all__ = [
    "CID_FONT",
    "DEFAULT_LANG",
    "DEFAULT_ZONE",
    "LANGS",
    "PDF_FONT_ENV",
    "TEXT",
    "Lang",
    "PdfDocument",
    "duration_text",
    "html_lang",
    "lang_of",
    "local_time",
    "pdf_font",
    "render_html",
    "t",
    "t_or",
    "zone_label",
]
