"""The page frame and the small pieces every page uses: escaping, buttons, tables, times."""

from __future__ import annotations

import functools
import html
import http
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources
from string import Template

PAGES = (("live", "/", "Live"), ("events", "/events", "Events"),
         ("models", "/models", "Models"), ("health", "/health", "Health"),
         ("farm", "/farm", "Farm"))


@functools.cache
def template(name: str) -> Template:
    """A template shipped in ``edge/web/templates``."""
    return Template(resources.files("edge.web").joinpath("templates", name).read_text("utf-8"))


def esc(value: object) -> str:
    """Text made safe for HTML (attributes included)."""
    return html.escape(str(value), quote=True)


def page(name: str, title: str, body: str, csrf: str) -> str:
    """A whole page: the frame, the navigation (``name`` marked current) and ``body``."""
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if key == name else ""}>{label}</a>'
        for key, href, label in PAGES
    )
    return template("base.html").substitute(
        title=esc(title), nav=nav, body=body, page=esc(name), csrf=esc(csrf))


def error_page(status: int, message: str) -> str:
    """The page for a refused or failed request, saying what is wrong."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return template("error.html").substitute(status=status, reason=esc(reason),
                                             message=esc(message))


def button(action: str, label: str, csrf: str, *, fields: Mapping[str, str] | None = None,
           confirm: str | None = None, css: str = "", name: str = "") -> str:
    """A one-button POST form with the CSRF token (and a confirmation question, if any)."""
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
                     for k, v in (fields or {}).items())
    ask = f' data-confirm="{esc(confirm)}"' if confirm else ""
    named = f' name="{esc(name)}"' if name else ""
    return (f'<form method="post" action="{esc(action)}" class="inline"{ask}>'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">{hidden}'
            f'<button type="submit" class="{esc(css)}"{named}>{esc(label)}</button></form>')


def table(headers: Iterable[str], rows: Iterable[Iterable[object]], css: str = "") -> str:
    """A table of escaped cells (a cell of :class:`Markup` is put in as it is)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell if isinstance(cell, Markup) else esc(cell)}</td>"
                         for cell in row) + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table class="{esc(css)}"><tr>{head}</tr>{body}</table></div>'


class Markup(str):
    """HTML already made safe, to put into a :func:`table` cell as it is."""


def when(unix_s: float | None) -> str:
    """A Unix time as local date and time, to the second."""
    if unix_s is None:
        return "-"
    return datetime.fromtimestamp(unix_s).strftime("%Y-%m-%d %H:%M:%S")


def ago(seconds: float | None) -> str:
    """An age, short: 4 s, 3 min, 2 h, 5 d."""
    if seconds is None:
        return "-"
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 86400:.0f} d"
