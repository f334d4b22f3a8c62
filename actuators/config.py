"""The deterrents on the GPIO header: pins, wiring, burst patterns and safety limits.

A *burst* is what one firing does to one device: ``repeats`` times on for ``on_s``, with
``off_s`` off between two ons (no trailing off). The whole burst must fit in ``max_on_s``, the
hard limit the bank enforces; after a burst the device rests ``min_rest_s`` before it may fire
again, so a stream of detections can neither restart a burst nor hold a valve or siren on.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from groundwork.section import Section

Kind = Literal["siren", "tonal_siren", "floodlight", "sprinkler"]
KINDS: tuple[str, ...] = get_args(Kind)
_PIN_NAME = re.compile(r"^(?:GPIO|BCM)?(\d+)$", re.IGNORECASE)
_HEADER_PIN = re.compile(r"^(?:BOARD|J8:)(\d+)$", re.IGNORECASE)
# The 40-pin header's physical pins that carry a GPIO, and its BCM number (gpiozero's BOARDn
# and J8:n names).
HEADER_TO_BCM = {3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23,
                 18: 24, 19: 10, 21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5,
                 31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21}


class Pattern(Section):
    """A burst: on for ``on_s``, then off for ``off_s`` between ons, ``repeats`` ons in all."""

    on_s: float = Field(default=1.0, gt=0, le=60, description="Seconds on, each time")
    off_s: float = Field(
        default=0.5, ge=0, le=60, description="Seconds off between two ons (0: one continuous on)"
    )
    repeats: int = Field(default=3, ge=1, le=100, description="How many ons in one burst")
    frequency_hz: float | None = Field(
        default=None, gt=20, le=20000, description="Tone of a tonal_siren (a square wave, PWM pin)"
    )

    @property
    def burst_s(self) -> float:
        """Seconds from the first on to the last off."""
        return self.repeats * self.on_s + (self.repeats - 1) * self.off_s

    def timeline(self) -> tuple[tuple[bool, float], ...]:
        """The burst as ``(active, seconds)`` segments, starting with an on, ending with an on.

        With ``off_s == 0`` the ons merge into one segment, so the pin never glitches off.
        """
        if self.off_s == 0:
            return ((True, self.burst_s),)
        segments: list[tuple[bool, float]] = [(True, self.on_s)]
        for _ in range(self.repeats - 1):
            segments += [(False, self.off_s), (True, self.on_s)]
        return tuple(segments)


class DeterrentConfig(Section):
    """One deterrent. ``active_high: false`` for relay boards that switch on a low input."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="Unique name, used in events")
    kind: Kind = Field(
        description="siren: buzzer or siren driver; tonal_siren: piezo on a PWM pin; "
        "floodlight: LED or relay; sprinkler: relay or valve driver"
    )
    pin: int | str = Field(description="BCM number (17) or a gpiozero pin name ('GPIO17')")
    active_high: bool = Field(
        default=True, description="false when the pin must go LOW to switch the device on"
    )
    pattern: Pattern = Field(default_factory=Pattern, description="The burst one firing plays")
    max_on_s: float = Field(
        default=10.0, gt=0, le=300,
        description="Hard limit on one burst: forced off this long after it started",
    )
    min_rest_s: float = Field(
        default=30.0, ge=0, le=3600, description="Rest after a burst ends before the next may start"
    )
    chicken_veto: bool = Field(
        default=False, description="Kept off while a chicken is clearly in view"
    )

    @field_validator("pin")
    @classmethod
    def _header_pin(cls, value: int | str) -> int | str:
        if bcm_number(value) is None:
            raise ValueError(
                f"{value!r} is not a GPIO pin of the 40-pin header: a BCM number 0-27 (17) "
                "or a gpiozero name (GPIO17, BCM17, BOARD11, J8:11)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DeterrentConfig:
        p = self.pattern
        if p.burst_s > self.max_on_s:
            raise ValueError(
                f"{self.name}: pattern lasts {p.burst_s:g} s ({p.repeats} x {p.on_s:g} s on, "
                f"{p.off_s:g} s off between), more than max_on_s ({self.max_on_s:g} s)"
            )
        if self.kind == "tonal_siren" and p.frequency_hz is None:
            raise ValueError(f"{self.name}: a tonal_siren needs pattern.frequency_hz")
        if self.kind != "tonal_siren" and p.frequency_hz is not None:
            raise ValueError(f"{self.name}: pattern.frequency_hz is only for kind tonal_siren")
        return self


def bcm_number(pin: int | str) -> int | None:
    """The BCM number of a header GPIO pin however it is spelt (17, 'GPIO17', 'BOARD11',
    'J8:11'), or None when it names none."""
    text = str(pin).strip()
    if match := _PIN_NAME.match(text):
        number = int(match.group(1))
        return number if 0 <= number <= 27 else None
    if match := _HEADER_PIN.match(text):
        return HEADER_TO_BCM.get(int(match.group(1)))
    return None


def pin_key(pin: int | str) -> str:
    """One spelling per BCM pin (17, '17', 'GPIO17', 'BCM17', 'BOARD11' are the same)."""
    number = bcm_number(pin)
    return f"GPIO{number}" if number is not None else str(pin).strip().upper()


class GpioConfig(Section):
    """Which pin factory drives the deterrents, and the deterrents themselves."""

    pin_factory: Literal["mock", "auto"] = Field(
        default="mock", description="mock: gpiozero MockFactory (no hardware); auto: the Pi's pins"
    )
    deterrents: list[DeterrentConfig] = Field(
        default_factory=lambda: [
            DeterrentConfig(name="siren", kind="siren", pin=17),
            DeterrentConfig(
                name="floodlight", kind="floodlight", pin=27,
                pattern=Pattern(on_s=5.0, off_s=0.0, repeats=1),
            ),
            # GPIO 5 is pulled up at boot, so an active-low relay stays off until we drive it.
            DeterrentConfig(
                name="sprinkler", kind="sprinkler", pin=5, active_high=False, chicken_veto=True,
                pattern=Pattern(on_s=2.0, off_s=1.0, repeats=2),
            ),
        ],
        description="Every deterrent a confirmed predator may fire",
    )

    @model_validator(mode="after")
    def _distinct(self) -> GpioConfig:
        for what, keys in (
            ("name", [d.name for d in self.deterrents]),
            ("pin", [pin_key(d.pin) for d in self.deterrents]),
        ):
            twice = sorted({k for k in keys if keys.count(k) > 1})
            if twice:
                raise ValueError(f"two deterrents share the {what} {', '.join(twice)}")
        return self
