"""One deterrent: a gpiozero output part, its burst played on a gpiozero thread, its timing.

Wiring: every kind drives one GPIO pin. ``siren`` is a :class:`gpiozero.Buzzer` (an active buzzer,
or a loud siren through a transistor or relay), ``tonal_siren`` a :class:`gpiozero.PWMOutputDevice`
making a square wave at ``pattern.frequency_hz`` (a piezo through a transistor), ``floodlight`` a
:class:`gpiozero.LED` (an LED driver or a relay), ``sprinkler`` a
:class:`gpiozero.DigitalOutputDevice` (a relay or valve driver). ``active_high: false`` suits relay
boards that switch on a LOW input: off is then a HIGH pin. See README.md, "Wiring the deterrents".

Example, on mock pins::

    >>> from gpiozero.pins.mock import MockFactory
    >>> from actuators.config import DeterrentConfig
    >>> siren = build_deterrent(DeterrentConfig(name="siren", kind="siren", pin=17),
    ...                         pin_factory=MockFactory())
    >>> high_ns = siren.switch_on(); siren.play()      # pin high now, the pattern runs behind
    >>> siren.close()

The first edge is written in the caller's thread, so the pin goes high before ``switch_on``
returns (no thread start in the way); the rest of the burst runs on a
:class:`gpiozero.threads.GPIOThread`, the thread gpiozero's own ``blink`` uses, which it also stops
at interpreter exit. Stopping never takes a lock: :meth:`Deterrent.force_off` marks a stop, swaps
in a fresh burst token and writes the pin off. The pattern thread writes only while its burst's
token is current, and :meth:`Deterrent.switch_on` reads the stop mark before it starts, both
re-checking after every "on", so whichever runs last, the pin ends off.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from gpiozero import LED, Buzzer, DigitalOutputDevice, PWMOutputDevice
from gpiozero.exc import DeviceClosed, GPIOZeroError
from gpiozero.threads import GPIOThread

from actuators.config import DeterrentConfig
from actuators.errors import DeterrentSetupError

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
# next() on itertools.count is a single C call, atomic under the GIL: every burst and every
# forced stop gets a token no other thread can also get, with no lock.
_tokens = itertools.count(1)
_PARTS: dict[str, type[DigitalOutputDevice]] = {
    "siren": Buzzer, "floodlight": LED, "sprinkler": DigitalOutputDevice,
}


class Deterrent:
    """One device and its burst. The bank decides *whether* to fire; this class only does it."""

    def __init__(self, cfg: DeterrentConfig, part: Any, on_value: float, *,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.max_on_ns = round(cfg.max_on_s * NS_PER_S)
        self.rest_ns = round(cfg.min_rest_s * NS_PER_S)
        self.burst_started_ns: int | None = None
        self.rest_until_ns: int | None = None
        self._part = part
        self._on_value = on_value
        self._clock = clock
        self._timeline = cfg.pattern.timeline()
        self._token = 0
        self._burst_token = 0  # the token switch_on took, for play()
        self._stop_mark = 0  # changed by every force_off; switch_on never writes it
        self._started_at = 0.0
        self._thread: GPIOThread | None = None

    @property
    def bursting(self) -> bool:
        """Whether a burst is in progress (the pin may be in an "off" gap of it)."""
        return self.burst_started_ns is not None

    @property
    def is_active(self) -> bool:
        """Whether the device is on right now (read from the pin)."""
        try:
            return bool(self._part.is_active)
        except DeviceClosed:
            return False

    @property
    def pin(self) -> Any:
        """The gpiozero pin (a ``MockPin`` in tests)."""
        return self._part.pin

    def switch_on(self) -> int:
        """Start a burst: the pin goes active now. Returns the clock reading just after.

        A :meth:`force_off` from another thread or a signal handler at any point of this call
        wins: the stop mark is read before anything is written, so a stop that lands between
        taking the token and storing it (which the token alone would overwrite) is still seen,
        and the pin is written off again.
        """
        stop_mark = self._stop_mark
        token = next(_tokens)
        self.burst_started_ns = self._clock()
        self._token = self._burst_token = token
        self._write(self._on_value)
        self._started_at = time.monotonic()
        high_ns = self._clock()
        if self._token != token or self._stop_mark != stop_mark:
            self.force_off()  # stopped while switching on: off, and the burst is over
        return high_ns

    def play(self) -> None:
        """Play the rest of the burst begun by :meth:`switch_on` in the background (nothing
        more is written if it was stopped meanwhile)."""
        old, self._thread = self._thread, GPIOThread(
            self._run, (self._burst_token, self._started_at), name=f"burst-{self.name}"
        )
        if old is not None:
            old.stop()  # finished, or stale after a forced stop: it writes nothing more
        self._thread.start()

    def force_off(self) -> None:
        """Off now, burst over, rest begins. Lock-free: safe in a signal handler, any thread."""
        self._stop_mark = next(_tokens)
        self._token = next(_tokens)
        self._write(0)
        if self.burst_started_ns is not None:
            self._end_burst()

    def close(self) -> None:
        """Off, stop the pattern thread, release the pin. Idempotent.

        gpiozero leaves a released pin an input with no pull, floating; we then pull it towards
        "off" (up for an active-low relay) with the Pi's own resistor, so the device stays off
        until the process ends. Beyond that only an external resistor holds (README.md,
        "Wiring the deterrents").
        """
        self.force_off()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
        pin = self._part.pin
        self._part.close()
        if pin is not None:
            with contextlib.suppress(GPIOZeroError):  # a fixed pull, or a factory without pulls
                pin.pull = "down" if self.cfg.active_high else "up"

    def _run(self, token: int, started_at: float) -> None:
        stopping = cast(GPIOThread, threading.current_thread()).stopping
        at = started_at
        for i, (active, seconds) in enumerate(self._timeline):
            if i and not self._write_if_current(token, active):
                return
            # Deadlines from the first edge, so thread start-up and wake-up lag never add up.
            at += seconds
            if stopping.wait(max(0.0, at - time.monotonic())):
                return
        if self._token == token:
            self._write(0)
            self._end_burst()

    def _write_if_current(self, token: int, active: bool) -> bool:
        if self._token != token:
            return False
        self._write(self._on_value if active else 0)
        if active and self._token != token:
            self._write(0)
            return False
        return True

    def _end_burst(self) -> None:
        self.rest_until_ns = self._clock() + self.rest_ns
        self.burst_started_ns = None

    def _write(self, value: float) -> None:
        # Released pins are off by wiring (README.md, "Wiring the deterrents").
        with contextlib.suppress(DeviceClosed):
            self._part.value = value


def build_deterrent(cfg: DeterrentConfig, *, pin_factory: Any = None,
                    clock: Callable[[], int] = time.monotonic_ns) -> Deterrent:
    """The deterrent for one config entry, its pin driven inactive from the first moment."""
    try:
        if cfg.kind == "tonal_siren":
            # A square wave: half duty at the tone's frequency; off is duty 0 (or 1, active low).
            part: Any = PWMOutputDevice(
                cfg.pin, active_high=cfg.active_high, initial_value=0,
                frequency=cfg.pattern.frequency_hz, pin_factory=pin_factory,
            )
            return Deterrent(cfg, part, 0.5, clock=clock)
        part = _PARTS[cfg.kind](
            cfg.pin, active_high=cfg.active_high, initial_value=False, pin_factory=pin_factory
        )
    except (GPIOZeroError, ValueError) as exc:
        raise DeterrentSetupError(
            f"deterrent {cfg.name!r} ({cfg.kind}) on pin {cfg.pin}: {type(exc).__name__}: {exc}"
        ) from exc
    return Deterrent(cfg, part, 1, clock=clock)
