"""Requests, responses and routes: the small part of HTTP the pages need."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

MAX_FORM_BYTES = 16 * 1024  # every form here is a few fields


class HttpError(Exception):
    """A request the page refuses, with its status and a message that says what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request: path, query and (for a POST) its form fields."""

    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        """A query argument, stripped."""
        return self.query.get(name, default).strip()


@dataclass(slots=True)
class Response:
    """What a page sends back."""

    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cache_s: int = 0  # 0: never cached (live state); longer for archive files and assets


def html(text: str, status: int = 200) -> Response:
    """An HTML page."""
    return Response(text.encode("utf-8"), status)


def redirect(location: str) -> Response:
    """See other: after a POST, back to a page to GET (a reload does not post again)."""
    return Response(b"", 303, headers={"Location": location})


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; HttpError 400 when it is not one."""
    try:
        return dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "the form is not URL-encoded text") from None


def parse_query(query: str) -> dict[str, str]:
    """A query string (the last value of a repeated name wins)."""
    return dict(parse_qsl(query, keep_blank_values=True))


Handler = Callable[..., Response]


@dataclass(slots=True)
class Router:
    """Routes by method and a path pattern whose named groups become keyword arguments."""

    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Route ``method`` requests whose whole path matches ``pattern``."""
        self.routes.append((method, re.compile(pattern), handler))

    def find(self, method: str, path: str) -> tuple[Handler, dict[str, Any]]:
        """The handler and its arguments; HttpError 404 or 405."""
        allowed = False
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match:
                if route_method == method:
                    return handler, match.groupdict()
                allowed = True
        if allowed:
            raise HttpError(405, f"{method} is not allowed on {path}")
        raise HttpError(404, f"nothing at {path}")
