"""``tensorchicken test-deterrents``: fire each deterrent once, one after another, to check wiring.

Run it in the henhouse with the real configuration (``gpio.pin_factory: auto``): each device plays
its configured burst, so you can see and hear which one is on which pin. It refuses when the
configuration says ``decision.armed: false`` unless ``--force`` is given. SIGTERM, SIGINT (Ctrl-C)
and SIGHUP (the SSH session dropped) switch every deterrent off at once and end the check with
exit status 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from collections.abc import Iterator

from actuators.bank import DeterrentBank, make_pin_factory
from actuators.config import DeterrentConfig
from actuators.errors import DeterrentError
from edge.cli import CliError
from edge.cli.common import add_config_arg, config_from, number_in
from edge.config import Config

NS_PER_US = 1000
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("test-deterrents", help="fire each deterrent once to check the wiring")
    add_config_arg(p)
    p.add_argument("--device", metavar="NAME", help="fire only this deterrent")
    p.add_argument("--force", action="store_true", help="fire even when decision.armed is false")
    p.add_argument("--gap", type=number_in(0, 3600), default=1.0, metavar="S",
                   help="seconds between two devices (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every device fired and went off again, 1 otherwise."""
    config = config_from(args)
    targets = _targets(config, args.device)
    if not config.decision.armed and not args.force:
        raise CliError("refusing: the configuration is disarmed (decision.armed: false); "
                       "add --force to fire anyway")
    if config.gpio.pin_factory == "mock":
        print("gpio.pin_factory is mock: no hardware is touched (use 'auto' on the Pi)")
    try:
        bank = DeterrentBank(config.gpio, pin_factory=make_pin_factory(config.gpio.pin_factory),
                             hung_after_s=config.health.hung_after_s)
    except DeterrentError as exc:
        raise CliError(f"cannot set up the deterrents: {exc}") from None
    # Set by a stop signal: every wait below ends at once, and no further device is fired.
    stopping = threading.Event()
    with _off_on_signals(bank, stopping) as caught, bank:
        results = _fire_all(bank, targets, args.gap, stopping)
        print(f"all off: {not any(bank.states().values())}")
    if caught:
        print(f"stopped by {signal.Signals(caught[0]).name}: every deterrent switched off")
        return 128 + caught[0]
    return 0 if all(results) else 1


@contextlib.contextmanager
def _off_on_signals(bank: DeterrentBank, stopping: threading.Event) -> Iterator[list[int]]:
    """While the block runs, SIGTERM, SIGINT and SIGHUP switch everything off and set
    ``stopping``; yields the signals caught. The handler raises nothing, so a signal during the
    bank's own clean-up cannot cut it short; the old handlers come back after it."""
    caught: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        bank.disable()
        bank.all_off()
        caught.append(signum)
        stopping.set()

    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _fire_all(bank: DeterrentBank, targets: list[DeterrentConfig], gap: float,
              stopping: threading.Event) -> list[bool]:
    results: list[bool] = []
    for i, target in enumerate(targets):
        if i:
            stopping.wait(max(0.0, gap))
        if stopping.is_set():
            break
        results.append(_fire_one(bank, target, stopping))
    return results


def _targets(config: Config, device: str | None) -> list[DeterrentConfig]:
    if device is None:
        return list(config.gpio.deterrents)
    found = [d for d in config.gpio.deterrents if d.name == device]
    if not found:
        names = ", ".join(d.name for d in config.gpio.deterrents) or "none"
        raise CliError(f"no deterrent named {device!r} (configured: {names})", code=2)
    return found


def _fire_one(bank: DeterrentBank, d: DeterrentConfig, stopping: threading.Event) -> bool:
    p = d.pattern
    print(f"{d.name}: {d.kind} on pin {d.pin}, active {'high' if d.active_high else 'low'}, "
          f"{p.repeats} x {p.on_s:g} s on / {p.off_s:g} s off ({p.burst_s:g} s)")
    called = time.monotonic_ns()
    report = bank.fire([d.name])
    if not report.fired:
        print(f"  not fired: {report.refused[d.name]}")
        return False
    print(f"  on ({(report.pin_high_ns[d.name] - called) / NS_PER_US:.0f} us after the call)")
    deadline = time.monotonic() + p.burst_s + 1.0
    device = bank.device(d.name)
    while device.bursting and time.monotonic() < deadline and not stopping.is_set():
        bank.heartbeat()
        stopping.wait(0.05)
    if stopping.is_set():
        print("  stopped")
        return False
    if device.bursting or device.is_active:
        print(f"  STILL ON after {p.burst_s + 1:g} s: switching everything off")
        bank.all_off()
        return False
    print(f"  off after {(time.monotonic_ns() - called) / 1e9:.2f} s")
    return True
