"""A stop that lands in the middle of ``fire`` wins, on mock pins, in every order.

The stop runs on another thread at an exact point inside ``fire``: the bank's clock is the hook.
On the firing thread ``fire`` reads the clock (1) in the rest check, (2) in ``switch_on`` after
taking its burst token and before storing it, (3) just after the pin write; with a second device,
(4) in that device's rest check, after the first device is on and before its pattern starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from actuators.bank import DeterrentBank
from actuators.config import DeterrentConfig, GpioConfig, Pattern

# A pattern whose next "on" comes 0.1 s after the first edge: a stale pattern thread would
# switch the pin back on well within PATTERN_S.
PATTERN = Pattern(on_s=0.05, off_s=0.05, repeats=3)
PATTERN_S = 0.4


class HookClock:
    """``time.monotonic_ns`` that runs ``action`` on another thread (and waits for it) at the
    ``at``-th reading taken on the thread that built it."""

    def __init__(self, at: int, action: Callable[[], None]) -> None:
        self.at = at
        self.action = action
        self.calls = 0
        self.ran = False
        self._owner = threading.get_ident()

    def __call__(self) -> int:
        if threading.get_ident() == self._owner and self.action is not None:
            self.calls += 1
            if self.calls == self.at:
                stopper = threading.Thread(target=self.action, name="stopper")
                stopper.start()
                stopper.join()
                self.ran = True
        return time.monotonic_ns()


def device(name: str, pin: int) -> DeterrentConfig:
    return DeterrentConfig(name=name, kind="siren", pin=pin, pattern=PATTERN, min_rest_s=0)


@pytest.fixture()
def banks() -> Iterator[list[DeterrentBank]]:
    made: list[DeterrentBank] = []
    yield made
    for bank in made:
        bank.close()


def make_bank(factory: MockFactory, banks: list[DeterrentBank], at: int,
              stop: Callable[[DeterrentBank], None], names: int = 1) -> tuple[DeterrentBank, Any]:
    holder: list[DeterrentBank] = []
    clock = HookClock(at, lambda: stop(holder[0]))
    cfg = GpioConfig(deterrents=[device("siren", 17), device("light", 27)][:names])
    bank = DeterrentBank(cfg, pin_factory=factory, clock=clock, hung_after_s=60)
    holder.append(bank)
    banks.append(bank)
    for name in bank.names:
        bank.device(name).pin.clear_states()
    return bank, clock


def stays_off(bank: DeterrentBank, name: str = "siren") -> list[bool]:
    """The pin's states after a pattern's length: nothing may switch it on again meanwhile."""
    threading.Event().wait(PATTERN_S)
    assert not bank.device(name).bursting
    return [bool(s.state) for s in bank.device(name).pin.states[1:]]  # [0]: the state at clear


def stop_siren(bank: DeterrentBank) -> None:
    """What the safety guard does on a max on-time overrun: that device off, nothing final."""
    bank.device("siren").force_off()


def appliance_stop(bank: DeterrentBank) -> None:
    """What ``Appliance.request_stop`` does on SIGTERM."""
    bank.disable()
    bank.all_off()


@pytest.mark.parametrize("at", [1, 2, 3], ids=["before-switch-on", "token-window", "after-write"])
def test_a_final_stop_during_fire_leaves_the_pin_off(
    mock_factory: MockFactory, banks: list[DeterrentBank], at: int
) -> None:
    bank, clock = make_bank(mock_factory, banks, at, appliance_stop)
    report = bank.fire(["siren"])
    assert clock.ran
    assert report.fired == () and report.pin_high_ns == {}
    assert report.refused["siren"].startswith("stopping")
    states = stays_off(bank)
    assert states[-1] is False and states.count(True) <= 1, states  # at most a blip, then off


def test_a_final_stop_before_fire_refuses_it(
    mock_factory: MockFactory, banks: list[DeterrentBank]
) -> None:
    bank, _ = make_bank(mock_factory, banks, 0, appliance_stop)
    appliance_stop(bank)
    report = bank.fire(["siren"])
    assert report.fired == () and report.refused == {"siren": "stopping"}
    assert stays_off(bank) == [] and bank.disabled


@pytest.mark.parametrize("at", [2, 3], ids=["token-window", "after-write"])
def test_a_device_stop_during_switch_on_wins(
    mock_factory: MockFactory, banks: list[DeterrentBank], at: int
) -> None:
    # The guard's forced stop (max on-time, hung loop) is force_off alone, no disable.
    bank, clock = make_bank(mock_factory, banks, at, stop_siren)
    bank.fire(["siren"])
    assert clock.ran
    states = stays_off(bank)
    assert states[-1] is False and states.count(True) <= 1, states


def test_a_device_stop_before_its_pattern_starts_wins(
    mock_factory: MockFactory, banks: list[DeterrentBank]
) -> None:
    bank, clock = make_bank(mock_factory, banks, 4, stop_siren, names=2)
    report = bank.fire(["siren", "light"])
    assert clock.ran and report.fired == ("siren", "light")
    assert stays_off(bank, "siren") == [True, False]  # on, stopped, and never on again
    assert stays_off(bank, "light").count(True) == 3  # the other device plays its pattern


def test_fire_after_all_off_alone_still_works(
    mock_factory: MockFactory, banks: list[DeterrentBank]
) -> None:
    # all_off without disable is not final (the loop's own except blocks use it).
    bank, _ = make_bank(mock_factory, banks, 0, appliance_stop)
    bank.all_off()
    assert bank.fire(["siren"]).fired == ("siren",) and not bank.disabled
