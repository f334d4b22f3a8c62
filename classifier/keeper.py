"""Keeps a running rendezvous in step with the configuration and the model registry.

A change reaches a running appliance two ways: ``tensorchicken models promote/rollback/register``
rewrites ``<state_dir>/models.yaml``, which the keeper notices by its modification (no signal,
so the command needs neither the service's pid nor its user); an edited configuration file is
announced with SIGHUP, which calls :meth:`ModelKeeper.request`. Either way the keeper, on its
own thread, re-reads the configuration's ``models:`` section, applies the registry to it and
swaps (:meth:`Rendezvous.swap`): a model that fails leaves the running ones, logged with the
reason and kept in the status.

The keeper also publishes ``models_status.json``: the figures that ``tensorchicken models list``
and ``doctor`` show from another process. The live copy, rewritten every few seconds, goes to
the runtime directory (systemd's ``RuntimeDirectory``, tmpfs), where it costs the SD card
nothing; ``<state_dir>/models_status.json`` is written (atomically, fsync'd) only when what it
says changes: the models and their roles, a swap, a refused change, the canary alarm, a stop. It
names the live copy, so :func:`read_status` finds it from any process. Without a runtime
directory (not run by systemd) the state copy is the live one, as before.
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

from classifier.config import ModelsConfig
from classifier.errors import ModelError
from classifier.registry import ModelRegistry, write_atomic_text
from classifier.rendezvous import Rendezvous, SwapReport

log = logging.getLogger(__name__)

STATUS_FILE = "models_status.json"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The status a running appliance last wrote (its live copy while it runs), or None."""
    kept = _read_json(state_dir / STATUS_FILE)
    live = kept.get("live") if kept else None
    fresh = _read_json(Path(live)) if live else None
    return fresh if fresh is not None else kept


def _lasting(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a status says that deserves a write to the SD card when it changes (not counts)."""
    models = sorted((m.get("name"), m.get("role"), m.get("version")) for m in status["models"])
    return (status["primary"], models, status["last_swap"], status["last_error"],
            (status.get("canary") or {}).get("alarm"), status["running"])


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
        poll_s: float = 1.0, runtime_dir: Path | None = None,
    ) -> None:
        self.rendezvous = rendezvous
        self.registry = registry
        self.state_dir = state_dir
        self.stop = stop
        self.reread = reread
        self.poll_s = poll_s
        self.live_path = runtime_dir / STATUS_FILE if runtime_dir is not None else None
        self._written: tuple[Any, ...] | None = None
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
        """Publish the rendezvous' figures for other processes (see the module docstring);
        a failure is only logged."""
        status = {**self.rendezvous.status(), "pid": os.getpid(), "updated": time.time(),
                  "running": running}
        if self.live_path is not None:
            self._write(self.live_path, status)
            status["live"] = str(self.live_path)
        lasting = _lasting(status)
        changed = self.live_path is None or lasting != self._written
        if changed and self._write(self.state_dir / STATUS_FILE, status):
            self._written = lasting

    @staticmethod
    def _write(path: Path, status: dict[str, Any]) -> bool:
        try:
            write_atomic_text(path, json.dumps(status, default=str))
        except OSError as exc:
            log.warning("models: cannot write %s: %s", path, exc)
            return False
        return True

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
