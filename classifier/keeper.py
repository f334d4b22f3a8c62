"""Keeps a running rendezvous in step with the configuration and the model registry.

A change reaches a running appliance two ways: ``tensorchicken models promote/rollback/register``
rewrites ``<state_dir>/models.yaml``, which the keeper notices by its modification (no signal,
so the command needs neither the service's pid nor its user); an edited configuration file is
announced with SIGHUP, which calls :meth:`ModelKeeper.request`. Either way the keeper, on its
own thread, re-reads the configuration's ``models:`` section, applies the registry to it and
swaps (:meth:`Rendezvous.swap`): a model that fails leaves the running ones, logged with the
reason and kept in the status.

The keeper also writes ``<state_dir>/models_status.json`` (atomically) every few seconds: the
figures that ``tensorchicken models list`` and ``doctor`` show from another process.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from classifier.errors import ModelError
from classifier.registry import ModelRegistry, write_atomic_text
from classifier.rendezvous import Rendezvous, SwapReport
from edge.config.models import ModelsConfig

log = logging.getLogger(__name__)

STATUS_FILE = "models_status.json"


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The status a running appliance last wrote, or None."""
    try:
        return dict(json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


class ModelKeeper:
    """Watches for model changes and applies them; see the module docstring.

    ``reread()`` gives the configuration file's ``models:`` section as it is now (None: keep
    the registry's base).
    """

    def __init__(
        self, rendezvous: Rendezvous, registry: ModelRegistry, state_dir: Path,
        stop: threading.Event, *, reread: Callable[[], ModelsConfig] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.rendezvous = rendezvous
        self.registry = registry
        self.state_dir = state_dir
        self.stop = stop
        self.reread = reread
        self.poll_s = poll_s
        self.reloads = 0
        self._wake = threading.Event()
        self._reason = ""
        self._seen = _stamp(registry.path)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self, reason: str) -> None:
        """Reload the models soon (safe from a signal handler: it only sets a flag)."""
        self._reason = reason
        self._wake.set()

    def start(self) -> None:
        """Start watching, on a thread of its own."""
        self.write_status()
        self._thread = threading.Thread(target=self._run, name="model-keeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_status = time.monotonic()
        while not self.stop.is_set() and not self._closed.is_set():
            self._wake.wait(self.poll_s)
            if self.stop.is_set() or self._closed.is_set():
                return
            stamp = _stamp(self.registry.path)
            if self._wake.is_set() or stamp != self._seen:
                self._wake.clear()
                self._seen = stamp
                self.reload(self._reason or "models.yaml changed")
                self._reason = ""
                last_status = 0.0
            if time.monotonic() - last_status >= 5 * self.poll_s:
                self.write_status()
                last_status = time.monotonic()

    def reload(self, reason: str) -> SwapReport | None:
        """Re-read, apply, swap; None (logged, in the status) when refused."""
        log.info("models: reloading (%s)", reason)
        try:
            if self.reread is not None:
                self.registry.base = self.reread()
            report = self.rendezvous.swap(self.registry.effective())
        except (ModelError, OSError, ValueError) as exc:
            self.rendezvous.last_error = str(exc)
            log.error("models: change refused, the running models stay: %s", exc)
            report = None
        self.reloads += 1
        self.write_status()
        return report

    def write_status(self, *, running: bool = True) -> None:
        """Write the rendezvous' figures for other processes; a failure is only logged."""
        status = {**self.rendezvous.status(), "pid": os.getpid(), "updated": time.time(),
                  "running": running}
        try:
            write_atomic_text(self.state_dir / STATUS_FILE, json.dumps(status, default=str))
        except OSError as exc:
            log.warning("models: cannot write %s: %s", STATUS_FILE, exc)

    def close(self) -> None:
        """Stop watching (the app's stop event ends the thread too); idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        if self._thread is not None:
            self.write_status(running=False)  # what it last ran, for models list and doctor
