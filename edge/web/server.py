"""The web server: the standard library's threading HTTP server, on a daemon thread.

Why not a framework: the page serves one owner and a handful of requests a minute, so the
standard library is enough, adds nothing to install on the Pi, and keeps every line that faces
the network in this repository (see the README). Each request runs on its own daemon thread,
with a timeout so a stalled client cannot keep one forever; a handler that raises answers 500
and is logged, and nothing here can stop the guard: the camera loops never wait on this thread.
"""

from __future__ import annotations

import http.server
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from edge.config.web import WebConfig
from edge.health.metrics import bind_server, parse_address
from edge.web.auth import Guard, guard_for
from edge.web.context import WebContext
from edge.web.http import (
    MAX_FORM_BYTES,
    HttpError,
    Request,
    Response,
    Router,
    parse_form,
    parse_query,
)

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0
SECURITY_HEADERS = {
    # Every asset ships in the package: nothing from elsewhere may load, nothing inline runs.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    router: Router
    guard: Guard


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT_S
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("GET", head=True)

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str, head: bool = False) -> None:
        try:
            response = self._respond(method)
        except HttpError as exc:
            response = _error(exc.status, exc.message)
        except Exception:
            log.exception("web: %s %s failed", method, self.path)
            response = _error(500, "the page failed; the guard runs on (see the log)")
        self._send(response, head)

    def _respond(self, method: str) -> Response:
        guard = self.server.guard
        if not guard.host_ok(self.headers.get("Host")):
            raise HttpError(421, "this page answers only to localhost (Host header refused)")
        if not guard.authorised(self.headers.get("Authorization")):
            return Response(b"password required\n", 401, "text/plain; charset=utf-8",
                            {"WWW-Authenticate": 'Basic realm="TensorChicken", charset="UTF-8"'})
        url = urlsplit(self.path)
        form = self._form() if method == "POST" else {}
        if method == "POST" and not guard.csrf_ok(form.get("csrf")):
            raise HttpError(403, "missing or wrong CSRF token: reload the page and try again")
        handler, args = self.server.router.find(method, url.path)
        return handler(Request(method, url.path, parse_query(url.query), form), **args)

    def _form(self) -> dict[str, str]:
        kind = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise HttpError(415, "send the form URL-encoded")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise HttpError(411, "Content-Length required") from None
        if not 0 <= length <= MAX_FORM_BYTES:
            raise HttpError(413, f"a form here is at most {MAX_FORM_BYTES} bytes")
        return parse_form(self.rfile.read(length))

    def _send(self, response: Response, head: bool) -> None:
        self.send_response(response.status)
        headers = {**SECURITY_HEADERS, **response.headers}
        headers["Content-Type"] = response.content_type
        headers["Content-Length"] = str(len(response.body))
        headers["Cache-Control"] = (f"private, max-age={response.cache_s}" if response.cache_s
                                    else "no-store")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: %s " + format, self.address_string(), *args)


def _error(status: int, message: str) -> Response:
    from edge.web.ui import error_page

    return Response(error_page(status, message).encode("utf-8"), status)


class WebServer:
    """Serves the pages for ``ctx`` on ``cfg.address`` from a daemon thread.

    The constructor checks the security rules (WebSecurityError: no password off loopback),
    unless given the ``guard`` they made;
    :meth:`start` binds (OSError naming the address). Port 0 picks a free port (tests).
    """

    def __init__(self, cfg: WebConfig, ctx: WebContext,
                 environ: dict[str, str] | None = None, guard: Guard | None = None) -> None:
        if cfg.address is None:
            raise ValueError("the web page is switched off (web.address: null)")
        self.cfg = cfg
        self.ctx = ctx
        self._host, self._port = parse_address(cfg.address, "web.address")
        self.guard = guard or guard_for(cfg.address, environ)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when the address asked for port 0)."""
        return int(self._server.server_address[1]) if self._server else self._port

    @property
    def url(self) -> str:
        """Where to open the page (the loopback name when bound to every interface)."""
        host = self._host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def bind(self) -> None:
        """Take the address (OSError naming it when it cannot); :meth:`start` serves."""
        if self._server is not None:
            return
        from edge.web.pages import build_router

        server = bind_server(_Server, _Handler, self.cfg.address or "", "web page")
        server.guard = self.guard
        server.router = build_router(self.ctx, self.guard, self.cfg)
        self._server = server

    def start(self) -> None:
        """Bind if not bound yet, and serve on a daemon thread."""
        self.bind()
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)
        self._thread.start()
        log.info("web page on %s", self.url)

    def _serve(self) -> None:
        server = self._server
        try:
            if server is not None:
                server.serve_forever(poll_interval=0.5)
        except Exception:  # the page is gone; the guard must run on
            log.exception("web: the server stopped; the guard runs on without the page")

    def close(self) -> None:
        """Stop serving and release the port; idempotent."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            if thread is not None:  # shutdown() waits for serve_forever: only once it ran
                server.shutdown()
                thread.join(5)
            server.server_close()
        self.ctx.close()
