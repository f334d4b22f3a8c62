"""The deterrent section of the configuration: patterns, limits and wiring, each bad value with
the message a user sees."""

from __future__ import annotations

from typing import Any

import pytest

from actuators.config import GpioConfig, Pattern
from edge.config import ConfigError, parse_config


def problems(gpio: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config({"gpio": gpio})
    return info.value.problems


def one(**kw: Any) -> dict[str, Any]:
    return {"deterrents": [{"name": "siren", "kind": "siren", "pin": 17, **kw}]}


def test_timeline_and_burst_length() -> None:
    p = Pattern(on_s=1, off_s=0.5, repeats=3)
    assert p.timeline() == ((True, 1), (False, 0.5), (True, 1), (False, 0.5), (True, 1))
    assert p.burst_s == 4.0
    assert Pattern(on_s=2, off_s=0, repeats=3).timeline() == ((True, 6.0),)


def test_defaults_are_valid_and_the_valve_is_active_low() -> None:
    cfg = GpioConfig()
    valve = {d.name: d for d in cfg.deterrents}["sprinkler"]
    assert not valve.active_high and valve.chicken_veto
    assert all(d.pattern.burst_s <= d.max_on_s for d in cfg.deterrents)


def test_a_pattern_longer_than_max_on_is_refused() -> None:
    assert problems(one(pattern={"on_s": 3, "off_s": 1, "repeats": 3}, max_on_s=10)) == [
        "gpio.deterrents.0: siren: pattern lasts 11 s (3 x 3 s on, 1 s off between), "
        "more than max_on_s (10 s)"
    ]


def test_tone_only_for_a_tonal_siren() -> None:
    assert problems({"deterrents": [{"name": "t", "kind": "tonal_siren", "pin": 18}]}) == [
        "gpio.deterrents.0: t: a tonal_siren needs pattern.frequency_hz"
    ]
    assert problems(one(pattern={"frequency_hz": 2000})) == [
        "gpio.deterrents.0: siren: pattern.frequency_hz is only for kind tonal_siren"
    ]


def test_pins_are_checked_and_one_pin_has_one_spelling() -> None:
    assert problems(one(pin=40)) == [
        "gpio.deterrents.0.pin: 40 is not a GPIO pin of the 40-pin header: a BCM number 0-27 "
        "(17) or a gpiozero name (GPIO17, BCM17, BOARD11, J8:11)"
    ]
    both = {"deterrents": [{"name": "a", "kind": "siren", "pin": 17},
                           {"name": "b", "kind": "floodlight", "pin": "GPIO17"}]}
    assert problems(both) == ["gpio: two deterrents share the pin GPIO17"]
    twice = {"deterrents": [{"name": "a", "kind": "siren", "pin": 17},
                            {"name": "a", "kind": "floodlight", "pin": 27}]}
    assert problems(twice) == ["gpio: two deterrents share the name a"]


@pytest.mark.parametrize("pin", ["banana", "", "GPIO28", "BOARD1", "J8:2", "BCM-1", -3])
def test_a_pin_that_names_no_gpio_is_refused(pin: object) -> None:
    # `pin: banana` passed validation, then `run` exited 1 when gpiozero could not find it.
    [problem] = problems(one(pin=pin))
    assert problem.startswith(f"gpio.deterrents.0.pin: {pin!r} is not a GPIO pin of the 40-pin")


@pytest.mark.parametrize("pin", [17, "17", "GPIO17", "bcm17", "BOARD11", "J8:11"])
def test_gpiozero_names_for_one_pin_are_one_pin(pin: object) -> None:
    assert problems({"deterrents": [{"name": "a", "kind": "siren", "pin": pin},
                                    {"name": "b", "kind": "floodlight", "pin": 17}]}) == [
        "gpio: two deterrents share the pin GPIO17"]
