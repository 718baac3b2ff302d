"""HTML for printable documents: Jinja2 with autoescaping on and the shared page skeleton.

A report's template extends ``page.html.j2`` (in this package's ``templates/``): the page
skeleton with its print CSS (A4 pages, running page numbers, page breaks) and a
Content-Security-Policy that forbids scripts and external resources. Autoescaping makes a
value (an incident title with ``<script>``) text, never markup.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import jinja2

from dutywatch.printing.text import Lang, html_lang, t

#: Where ``page.html.j2`` lives.
SKELETON_PACKAGE: Final = "dutywatch.printing"


@functools.cache
def _environment(packages: tuple[str, ...]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(p, "templates") for p in packages]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(template: str, *, package: str, lang: Lang, **context: Any) -> str:
    """Render ``template`` (found in ``package``'s ``templates/``, then in this package's, so
    it may extend ``page.html.j2``) with ``t`` bound to ``lang`` and autoescaping on.

    The skeleton's ``html_lang`` (the page's ``lang`` attribute) follows ``lang``.
    """
    env = _environment(tuple(dict.fromkeys((package, SKELETON_PACKAGE))))

    def text(key: str, **values: Any) -> str:
        return t(key, lang, **values)

    return env.get_template(template).render(
        lang=lang, html_lang=html_lang(lang), t=text, **context
    )
