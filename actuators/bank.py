"""The deterrent bank: every configured deterrent, fired together, safe by construction.

Example, on mock pins::

    >>> from actuators.config import GpioConfig
    >>> with DeterrentBank(GpioConfig(), pin_factory=make_pin_factory("mock")) as bank:
    ...     report = bank.fire(bank.names)     # returns at once; bursts play in the background
    ...     report.fired
    ('siren', 'floodlight', 'sprinkler')

The pipeline calls :meth:`DeterrentBank.heartbeat` every iteration and :meth:`DeterrentBank.fire`
with the decider's devices; a signal handler or an ``except`` block calls
:meth:`DeterrentBank.all_off`; teardown calls :meth:`DeterrentBank.close`. A stop that is final
(SIGTERM) calls :meth:`DeterrentBank.disable` first and :meth:`DeterrentBank.all_off` second: a
``fire`` already past its checks in another thread then switches back off whatever it switched on.
The rules themselves live in :mod:`actuators.safety`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from actuators.config import GpioConfig
from actuators.deterrent import Deterrent, build_deterrent
from actuators.errors import UnknownPinFactory
from actuators.safety import SafetyGuard, refusal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FireReport:
    """What one :meth:`DeterrentBank.fire` did.

    ``refused`` maps a name to why it did not fire (resting, already on, unknown, hung, closed);
    ``pin_high_ns`` maps each fired name to the bank clock (``time.monotonic_ns``) just after its
    pin went active, so decision-to-pin latency is ``pin_high_ns[name] - decision_ns``.
    """

    fired: tuple[str, ...]
    refused: dict[str, str]
    pin_high_ns: dict[str, int]


def make_pin_factory(kind: str) -> Any:
    """``'mock'``: a gpiozero ``MockFactory`` with PWM-capable pins; ``'auto'``: ``None``, so
    gpiozero picks the board's own factory (lgpio on current Raspberry Pi OS)."""
    if kind == "auto":
        return None
    if kind == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    raise UnknownPinFactory(f"unknown pin factory {kind!r}: expected 'mock' or 'auto'")


class DeterrentBank:
    """Every configured deterrent; every pin inactive from the moment it is set up."""

    def __init__(self, cfg: GpioConfig, *, pin_factory: Any = None, hung_after_s: float = 10.0,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock = clock
        self._closed = False
        self._disabled = False  # set once by disable(), read by fire() before and after writing
        # Serialises callers of fire() (one loop per camera); all_off() never takes it.
        self._lock = threading.Lock()
        self._devices: dict[str, Deterrent] = {}
        try:
            for d in cfg.deterrents:
                self._devices[d.name] = build_deterrent(d, pin_factory=pin_factory, clock=clock)
        except BaseException:
            self._close_devices()
            raise
        self.names: tuple[str, ...] = tuple(self._devices)
        self._guard = SafetyGuard(tuple(self._devices.values()), self.all_off,
                                  hung_after_s=hung_after_s, clock=clock)
        self._guard.start()
        log.info("deterrents ready, all off: %s", ", ".join(
            f"{d.name} ({d.cfg.kind}, pin {d.cfg.pin}, active "
            f"{'high' if d.cfg.active_high else 'low'})" for d in self._devices.values()) or "none")

    def fire(self, names: Sequence[str]) -> FireReport:
        """Start a burst on each named device that may fire; never waits for a pattern."""
        refused: dict[str, str] = {}
        starting: list[Deterrent] = []
        high: dict[str, int] = {}
        with self._lock:
            try:
                for name in names:
                    why = self._refusal(name, starting)
                    if why:
                        refused[name] = why
                        continue
                    device = self._devices[name]
                    high[name] = device.switch_on()  # every pin first, then the threads behind
                    starting.append(device)
            finally:  # even if a pin write failed, what is on gets its pattern (and its end)
                if self._disabled and starting:  # a stop came in while we switched on: it wins
                    starting = self._switch_back_off(starting, refused, high)
                for device in starting:
                    device.play()
        if refused:
            log.debug("not fired: %s", refused)
        return FireReport(tuple(d.name for d in starting), refused, high)

    def _switch_back_off(self, starting: list[Deterrent], refused: dict[str, str],
                         high: dict[str, int]) -> list[Deterrent]:
        for device in starting:
            device.force_off()
            refused[device.name] = "stopping: switched off again at once"
            high.pop(device.name, None)
        log.warning("a stop came in while firing: %s off again",
                    ", ".join(d.name for d in starting))
        return []

    def _refusal(self, name: str, starting: list[Deterrent]) -> str | None:
        if self._closed:
            return "bank closed"
        if self._disabled:
            return "stopping"
        device = self._devices.get(name)
        if device is None:
            return f"unknown deterrent (known: {', '.join(self.names) or 'none'})"
        if self._guard.hung:
            return "loop hung: deterrents held off until heartbeats resume"
        if device in starting:
            return "already on: named twice"
        return refusal(device, self._clock())

    def all_off(self) -> None:
        """Every device off now. Idempotent, lock-free: safe from a signal handler or any thread.

        Bursts cut short rest as if they had ended. Later :meth:`fire` calls work again; only
        :meth:`close` is final.
        """
        for device in self._devices.values():
            try:
                device.force_off()
            except Exception:  # one broken pin must not keep the others on
                log.exception("%s: could not switch off", device.name)

    def disable(self) -> None:
        """Refuse every later :meth:`fire` ("stopping"), for good. Lock-free: safe from a signal
        handler. Call it before :meth:`all_off`, so that a ``fire`` racing with the stop either
        refuses or switches its pins back off once it sees the flag."""
        self._disabled = True

    @property
    def disabled(self) -> bool:
        """Whether :meth:`disable` was called (or the bank closed)."""
        return self._disabled or self._closed

    def heartbeat(self, at_ns: int | None = None) -> None:
        """The loop made progress (now, or at ``at_ns`` on the bank's clock, when it is told
        later); none for ``hung_after_s`` and everything goes off."""
        self._guard.heartbeat(at_ns)

    def states(self) -> dict[str, bool]:
        """Name -> whether the device is on right now."""
        return {name: device.is_active for name, device in self._devices.items()}

    def device(self, name: str) -> Deterrent:
        """One deterrent, by name (for tests, benchmarks and the wiring check)."""
        return self._devices[name]

    def close(self) -> None:
        """All off, stop every thread, release every pin. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._disabled = True
        self.all_off()
        self._guard.close()
        self._close_devices()

    def _close_devices(self) -> None:
        for device in self._devices.values():
            try:
                device.close()
            except Exception:
                log.exception("%s: could not close", device.name)

    def __enter__(self) -> DeterrentBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
