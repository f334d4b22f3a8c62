"""The deterrent bank on gpiozero mock pins: exact pin histories for every pattern and every
safety rule (rest, max on-time, stop, exception, hung loop, active-low relays)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from actuators.bank import DeterrentBank, make_pin_factory
from actuators.config import DeterrentConfig, GpioConfig, Pattern
from actuators.errors import DeterrentSetupError, UnknownPinFactory

# Mock pins stamp each change with time.monotonic(); a 2-core runner under load wakes a thread
# tens of ms late (seen: over 40 ms at load 5), so times are compared to 60 ms. Deadlines are
# counted from the first edge, so one late edge never shifts the ones after it.
TOLERANCE_S = 0.06


def assert_states_and_times(pin: Any, expected: list[tuple[float, float]]) -> None:
    """gpiozero's ``MockPin.assert_states_and_times``, but the history must also have exactly
    the expected length: an extra edge (a relay switched back on) fails."""
    got = [(round(t, 3), float(s)) for t, s in pin.states]
    message = f"pin history {got}, expected {expected}"
    assert len(got) == len(expected), message
    for (t, s), (want_t, want_s) in zip(got, expected, strict=True):
        assert s == want_s and abs(t - want_t) <= TOLERANCE_S, message


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def deterrent(name: str = "siren", kind: str = "siren", pin: int = 17, *, on_s: float = 0.1,
              off_s: float = 0.1, repeats: int = 3, **kw: Any) -> DeterrentConfig:
    kw.setdefault("min_rest_s", 0.0)
    pattern = Pattern(on_s=on_s, off_s=off_s, repeats=repeats,
                      frequency_hz=kw.pop("frequency_hz", None))
    return DeterrentConfig(name=name, kind=kind, pin=pin, pattern=pattern,  # type: ignore[arg-type]
                           **kw)


class FakeClock:
    """A nanosecond clock the test moves by hand (the bank judges rest and max-on by it)."""

    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)


@pytest.fixture()
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture()
def make_bank(factory: MockFactory) -> Iterator[Callable[..., DeterrentBank]]:
    banks: list[DeterrentBank] = []

    def make(*deterrents: DeterrentConfig, **kw: Any) -> DeterrentBank:
        bank = DeterrentBank(GpioConfig(deterrents=list(deterrents)), pin_factory=factory, **kw)
        banks.append(bank)
        for name in bank.names:
            bank.device(name).pin.clear_states()
        return bank

    yield make
    for bank in banks:
        bank.close()


def pin(bank: DeterrentBank, name: str = "siren") -> Any:
    return bank.device(name).pin


def idle(bank: DeterrentBank) -> bool:
    return not any(bank.device(n).bursting for n in bank.names)


# -- patterns ---------------------------------------------------------------------------------

def test_every_pin_is_driven_off_at_start(factory: MockFactory) -> None:
    valve = deterrent("valve", "sprinkler", 5, active_high=False)
    cfg = GpioConfig(deterrents=[deterrent(), valve])
    with DeterrentBank(cfg, pin_factory=factory) as bank:
        assert factory.pin(17).function == "output" and factory.pin(17).state == 0
        assert factory.pin(5).function == "output" and factory.pin(5).state == 1  # active low
        assert bank.states() == {"siren": False, "valve": False}


def test_siren_pattern_on_off_repeats(make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(on_s=0.1, off_s=0.05, repeats=3))
    report = bank.fire(["siren"])
    assert report.fired == ("siren",) and report.refused == {}
    wait_until(lambda: idle(bank))
    assert_states_and_times(pin(bank), [
        (0, 0), (0, 1), (0.1, 0), (0.05, 1), (0.1, 0), (0.05, 1), (0.1, 0),
    ])


def test_continuous_pattern_never_glitches_off(make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent("light", "floodlight", 27, on_s=0.1, off_s=0, repeats=3))
    bank.fire(["light"])
    wait_until(lambda: idle(bank))
    assert_states_and_times(pin(bank, "light"), [(0, 0), (0, 1), (0.3, 0)])


def test_tonal_siren_plays_its_tone_at_half_duty(make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent("tone", "tonal_siren", 18, on_s=0.1, off_s=0.1, repeats=2,
                               frequency_hz=3000))
    assert pin(bank, "tone").frequency == 3000
    bank.fire(["tone"])
    assert bank.states() == {"tone": True}
    wait_until(lambda: idle(bank))
    assert_states_and_times(pin(bank, "tone"), [(0, 0), (0, 0.5), (0.1, 0), (0.1, 0.5), (0.1, 0)])


def test_active_low_relay_is_high_when_off(make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent("valve", "sprinkler", 5, active_high=False, on_s=0.1, off_s=0.1,
                               repeats=2))
    assert pin(bank, "valve").state == 1 and bank.states() == {"valve": False}
    bank.fire(["valve"])
    assert pin(bank, "valve").state == 0 and bank.states() == {"valve": True}
    wait_until(lambda: idle(bank))
    assert_states_and_times(pin(bank, "valve"), [(0, 1), (0, 0), (0.1, 1), (0.1, 0), (0.1, 1)])
    bank.all_off()
    assert pin(bank, "valve").state == 1


def test_the_bank_fires_the_set_together_and_never_waits(
        make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(on_s=1, repeats=1), deterrent("light", "floodlight", 27, on_s=1,
                                                             repeats=1))
    started = time.monotonic()
    report = bank.fire(["siren", "light", "ghost"])
    assert time.monotonic() - started < 0.5  # the one-second bursts play behind
    assert report.fired == ("siren", "light")
    assert report.refused == {"ghost": "unknown deterrent (known: siren, light)"}
    assert bank.states() == {"siren": True, "light": True}


def test_pin_high_time_is_stamped_when_the_pin_went_active(
        make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(), deterrent("light", "floodlight", 27))
    decided_ns = time.monotonic_ns()
    report = bank.fire(["siren", "light"])
    after_ns = time.monotonic_ns()
    for name in ("siren", "light"):
        # The mock pin's own stamp (float seconds, same monotonic clock) of its rising edge.
        edge_ns = pin(bank, name)._last_change * 1e9
        assert decided_ns - 1e3 <= edge_ns <= report.pin_high_ns[name] + 1e3
        assert report.pin_high_ns[name] <= after_ns


# -- safety -----------------------------------------------------------------------------------

def test_a_stream_of_detections_cannot_restart_or_extend_a_burst(
        make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(on_s=0.1, off_s=0.1, repeats=2, min_rest_s=0.3))
    reasons: set[str] = set()
    fired_at: list[float] = []
    start = time.monotonic()
    while time.monotonic() - start < 0.75:  # a detection every 10 ms
        report = bank.fire(["siren"])
        if report.fired:
            fired_at.append(time.monotonic() - start)
        reasons.update(r.split(":")[0] for r in report.refused.values())
        time.sleep(0.01)
    wait_until(lambda: idle(bank))
    assert reasons == {"already on", "resting"}
    assert len(fired_at) == 2 and fired_at[1] == pytest.approx(0.6, abs=TOLERANCE_S)
    # burst (0.3 s), rest (0.3 s), burst: never longer, never restarted.
    assert_states_and_times(pin(bank), [
        (0, 0), (0, 1), (0.1, 0), (0.1, 1), (0.1, 0), (0.3, 1), (0.1, 0), (0.1, 1), (0.1, 0),
    ])


def test_rest_is_counted_on_the_bank_clock(make_bank: Callable[..., DeterrentBank]) -> None:
    clock = FakeClock()
    bank = make_bank(deterrent(on_s=0.05, off_s=0, repeats=1, min_rest_s=30), clock=clock)
    bank.fire(["siren"])
    wait_until(lambda: idle(bank))
    clock.advance(29.9)
    assert bank.fire(["siren"]).refused == {"siren": "resting: 0.1 s left"}
    clock.advance(0.1)
    assert bank.fire(["siren"]).fired == ("siren",)


def test_the_guard_forces_off_a_burst_past_max_on(make_bank: Callable[..., DeterrentBank]) -> None:
    # The pattern alone would stay on 0.4 s; the bank clock jumps past max_on_s (as a stuck
    # pattern thread would let it), and the guard must cut it, and nothing may turn it back on.
    clock = FakeClock()
    bank = make_bank(deterrent(on_s=0.4, off_s=0.1, repeats=2, max_on_s=1.0, min_rest_s=5),
                     clock=clock)
    bank.fire(["siren"])
    time.sleep(0.1)
    clock.advance(1.01)
    wait_until(lambda: not bank.states()["siren"], timeout=1)
    time.sleep(0.6)  # past where the pattern would have switched on again
    assert_states_and_times(pin(bank), [(0, 0), (0, 1), (0.125, 0)])
    assert bank.fire(["siren"]).refused["siren"].startswith("resting")


def test_all_off_after_an_exception_in_the_loop(make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(on_s=1, repeats=1), deterrent("valve", "sprinkler", 5,
                                                             active_high=False, on_s=1, repeats=1))

    def loop() -> None:
        try:
            bank.fire(["siren", "valve"])
            raise RuntimeError("classifier blew up")
        except BaseException:
            bank.all_off()
            raise

    with pytest.raises(RuntimeError):
        loop()
    assert bank.states() == {"siren": False, "valve": False}
    time.sleep(1.1)  # where the bursts would have ended: no late edge
    assert_states_and_times(pin(bank), [(0, 0), (0, 1), (0, 0)])
    assert_states_and_times(pin(bank, "valve"), [(0, 1), (0, 0), (0, 1)])  # active low: HIGH


def test_leaving_the_bank_by_an_exception_closes_it(factory: MockFactory) -> None:
    cfg = GpioConfig(deterrents=[deterrent(on_s=1, repeats=1)])
    with pytest.raises(RuntimeError), DeterrentBank(cfg, pin_factory=factory) as bank:
        bank.fire(["siren"])
        raise RuntimeError("camera gone")
    assert factory.pin(17).state == 0 and factory.pin(17).function == "input"
    assert bank.fire(["siren"]).refused == {"siren": "bank closed"}


def test_all_off_from_a_signal_handler_and_another_thread(
        make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(on_s=0.3, off_s=0.1, repeats=2))
    old = signal.signal(signal.SIGUSR1, lambda *_: bank.all_off())
    try:
        bank.fire(["siren"])
        os.kill(os.getpid(), signal.SIGUSR1)
        wait_until(lambda: not bank.states()["siren"], timeout=1)
        time.sleep(0.5)  # the pattern would have switched on again at 0.4 s
        assert_states_and_times(pin(bank), [(0, 0), (0, 1), (0, 0)])
    finally:
        signal.signal(signal.SIGUSR1, old)
    bank.fire(["siren"])  # all_off is not final: the next firing works
    threading.Thread(target=bank.all_off).start()
    wait_until(lambda: not bank.states()["siren"], timeout=1)
    bank.all_off()  # idempotent
    assert pin(bank).states[-1].state == 0


def test_a_hung_loop_turns_everything_off_until_heartbeats_resume(
        make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(on_s=2, repeats=1), hung_after_s=0.2)
    bank.heartbeat()
    bank.fire(["siren"])
    # No more heartbeats: off about 0.2 s later (plus a guard tick).
    wait_until(lambda: not bank.states()["siren"], timeout=2)
    assert_states_and_times(pin(bank), [(0, 0), (0, 1), (0.22, 0)])
    assert bank.fire(["siren"]).refused == {
        "siren": "loop hung: deterrents held off until heartbeats resume"}
    bank.heartbeat()
    assert bank.fire(["siren"]).fired == ("siren",)


def test_no_hang_is_declared_before_the_first_heartbeat(
        make_bank: Callable[..., DeterrentBank]) -> None:
    bank = make_bank(deterrent(on_s=0.3, off_s=0, repeats=1), hung_after_s=0.05)
    bank.fire(["siren"])
    wait_until(lambda: idle(bank))
    assert_states_and_times(pin(bank), [(0, 0), (0, 1), (0.3, 0)])


# -- set-up and teardown ----------------------------------------------------------------------

def test_close_is_idempotent_and_releases_the_pins_pulled_off(factory: MockFactory) -> None:
    valve = deterrent("valve", "sprinkler", 5, active_high=False)
    cfg = GpioConfig(deterrents=[deterrent(), valve])
    bank = DeterrentBank(cfg, pin_factory=factory)
    bank.fire(["siren", "valve"])
    bank.close()
    bank.close()
    assert bank.states() == {"siren": False, "valve": False}
    siren_pin, valve_pin = factory.pin(17), factory.pin(5)
    assert (siren_pin.function, siren_pin.pull, siren_pin.state) == ("input", "down", 0)
    assert (valve_pin.function, valve_pin.pull, valve_pin.state) == ("input", "up", 1)
    DeterrentBank(cfg, pin_factory=factory).close()  # the pins are free again


def test_a_bad_pin_is_a_setup_error_naming_the_deterrent(factory: MockFactory) -> None:
    # The configuration refuses J8:1 (3.3 V, no GPIO); a bank built from code may still meet it.
    light = deterrent("light", "floodlight", 27).model_copy(update={"pin": "J8:1"})
    cfg = GpioConfig(deterrents=[deterrent(), light])
    with pytest.raises(DeterrentSetupError, match=r"deterrent 'light' \(floodlight\) on pin J8:1"):
        DeterrentBank(cfg, pin_factory=factory)
    assert factory.pin(17).function == "input"  # the siren built before it was released


def test_pin_factories() -> None:
    assert make_pin_factory("auto") is None
    assert isinstance(make_pin_factory("mock"), MockFactory)
    with pytest.raises(UnknownPinFactory, match="unknown pin factory 'pigpio'"):
        make_pin_factory("pigpio")
