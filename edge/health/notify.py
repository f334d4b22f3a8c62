"""systemd's ``sd_notify`` protocol, in pure Python: READY, WATCHDOG, STATUS, STOPPING.

The service manager passes an ``AF_UNIX`` datagram socket in ``$NOTIFY_SOCKET`` (a path, or an
abstract name starting with ``@``); each notification is one datagram of ``KEY=VALUE`` lines.
Outside systemd the variable is unset and every call is a no-op, so the loop calls these
unconditionally.

The unit sets ``WatchdogSec=``; systemd then passes ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``) and
restarts the service when no ``WATCHDOG=1`` arrives in time. The loop calls :meth:`watchdog` each
time it makes progress; a hung loop stops calling it, and that is the whole point: never ping the
watchdog from a timer thread.

Example::

    notifier = Notifier()
    notifier.status("loading models")
    ...
    notifier.ready()
    while not stop.is_set():
        process(frame_source.latest())
        notifier.watchdog()          # cheap: at most one datagram per WATCHDOG_USEC / 4
    notifier.stopping()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# systemd's own advice (sd_watchdog_enabled(3)) is to ping at half the interval; a quarter
# leaves room for a slow frame without sending a datagram per frame.
WATCHDOG_FRACTION = 0.25


def _address(socket_path: str) -> str | bytes:
    # An abstract socket is written '@name' in the environment and '\0name' on the wire.
    if socket_path.startswith("@"):
        return b"\0" + socket_path[1:].encode()
    return socket_path


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """The watchdog interval systemd asked for, in seconds; None when it is off or not ours.

    ``WATCHDOG_PID`` names the process the watchdog is meant for: a child that inherited the
    environment must not ping on its parent's behalf.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000


class Notifier:
    """Sends notifications to systemd; a no-op when ``$NOTIFY_SOCKET`` is unset.

    ``socket_path`` overrides the environment (tests pass their own listener); ``environ`` and
    ``clock`` are there to inject the watchdog settings and the time. Sending never blocks the
    caller: a full socket buffer drops the datagram and logs it.
    """

    def __init__(
        self,
        socket_path: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if environ is None else environ
        path = socket_path if socket_path is not None else env.get("NOTIFY_SOCKET")
        self._address = _address(path) if path else None
        self._interval = watchdog_interval(env, os.getpid()) if self._address else None
        self._clock = clock
        self._last_watchdog: float | None = None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        """True when there is a service manager to notify."""
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """``WatchdogSec=`` of the unit in seconds, or None when no watchdog watches us."""
        return self._interval

    def ready(self, status: str | None = None) -> None:
        """Start-up is complete: the models are loaded, every pin is off and the camera loops
        run (a camera may still be connecting: say so in ``status``)."""
        self._send("READY=1", status)

    def status(self, text: str) -> None:
        """One line for ``systemctl status`` (newlines become spaces)."""
        self._send(None, text)

    def stopping(self, status: str | None = None) -> None:
        """A clean shutdown has begun."""
        self._send("STOPPING=1", status)

    def extend_timeout(self, seconds: float, status: str | None = None) -> None:
        """Ask for more start-up or shutdown time (e.g. a first model fetch on a slow link).

        systemd then wants another message within ``seconds``; it never shortens the unit's own
        ``TimeoutStartSec=``, so asking early costs nothing."""
        self._send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}", status)

    def watchdog(self) -> None:
        """The loop made progress: ping the watchdog, at most once per quarter interval."""
        if self._interval is None:
            return
        now = self._clock()
        last = self._last_watchdog
        if last is not None and now - last < self._interval * WATCHDOG_FRACTION:
            return
        self._last_watchdog = now
        self._send("WATCHDOG=1", None)

    def close(self) -> None:
        """Close the socket; later calls open it again."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, state: str | None, status: str | None) -> None:
        if self._address is None:
            return
        lines = [state] if state else []
        if status is not None:
            lines.append("STATUS=" + " ".join(status.splitlines()))
        self._sendto("\n".join(lines).encode())

    def _sendto(self, payload: bytes) -> None:
        assert self._address is not None
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.setblocking(False)
                self._sock.sendto(payload, self._address)
            except BlockingIOError:
                log.warning("systemd notify socket is full; dropped %r", payload[:40])
            except OSError as exc:
                # systemd gone (e.g. during shutdown) or a wrong path: the appliance carries on.
                log.warning("cannot notify systemd at %r: %s", self._address, exc)


class StartupExtender:
    """Keeps asking for more start-up time while a long step runs; a context manager.

    Loading the models fetches any that are missing, which on a slow link can outlast the
    unit's ``TimeoutStartSec=``. Every ``every_s`` seconds while the block runs this sends
    ``EXTEND_TIMEOUT_USEC`` (``for_s``) with a STATUS line saying how long ``what`` has taken,
    up to ``limit_s`` in all, so a step that hangs for good is still killed in the end. The
    thread waits on an event: leaving the block stops it at once. A no-op outside systemd.

    Example::

        with StartupExtender(notifier, "loading models"):
            classifier = load_rendezvous(cfg, store)
    """

    def __init__(self, notifier: Notifier, what: str, *, every_s: float = 20.0,
                 for_s: float = 60.0, limit_s: float = 900.0) -> None:
        self.notifier = notifier
        self.what = what
        self.every_s = every_s
        self.for_s = for_s
        self.limit_s = limit_s
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StartupExtender:
        self.notifier.status(self.what)
        if self.notifier.enabled:
            self._thread = threading.Thread(target=self._run, name="startup-extender",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        waited = 0.0
        while waited < self.limit_s and not self._done.wait(self.every_s):
            waited += self.every_s
            self.notifier.extend_timeout(self.for_s, f"{self.what} ({waited:.0f} s so far)")
