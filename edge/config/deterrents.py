"""The deterrents on the GPIO header: pins, wiring, burst patterns and safety limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.config.base import Section


class Pattern(Section):
    """A burst: on for ``on_s``, off for ``off_s``, ``repeats`` times."""

    on_s: float = Field(1.0, gt=0, le=60)
    off_s: float = Field(0.5, ge=0, le=60)
    repeats: int = Field(3, ge=1, le=100)
    frequency_hz: float | None = Field(
        None, gt=20, le=20000, description="Tone for a tonal siren on a PWM pin"
    )


class DeterrentConfig(Section):
    """One deterrent. ``active_high: false`` for relay boards that switch on a low input."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    kind: Literal["siren", "tonal_siren", "floodlight", "sprinkler"]
    pin: int | str = Field(description="BCM number (17) or a gpiozero pin name ('GPIO17')")
    active_high: bool = True
    pattern: Pattern = Field(default_factory=Pattern)  # type: ignore[arg-type]
    max_on_s: float = Field(10.0, gt=0, le=300, description="Hard limit on one continuous 'on'")
    min_rest_s: float = Field(30.0, ge=0, le=3600, description="Rest between two bursts")
    chicken_veto: bool = Field(False, description="Kept off while a chicken is clearly in view")


class GpioConfig(Section):
    """Which pin factory drives the deterrents."""

    pin_factory: Literal["mock", "auto"] = Field(
        "mock", description="mock: gpiozero MockFactory (no hardware); auto: the Pi's pins"
    )
    deterrents: list[DeterrentConfig] = Field(
        default_factory=lambda: [
            DeterrentConfig(name="siren", kind="siren", pin=17),
            DeterrentConfig(
                name="floodlight", kind="floodlight", pin=27,
                pattern=Pattern(on_s=5.0, off_s=0.0, repeats=1),
            ),
            DeterrentConfig(
                name="sprinkler", kind="sprinkler", pin=22, active_high=False, chicken_veto=True,
                pattern=Pattern(on_s=2.0, off_s=1.0, repeats=2),
            ),
        ]
    )

    @model_validator(mode="after")
    def _distinct(self) -> GpioConfig:
        names = [d.name for d in self.deterrents]
        pins = [str(d.pin) for d in self.deterrents]
        if len(set(names)) != len(names):
            raise ValueError("two deterrents share a name")
        if len(set(pins)) != len(pins):
            raise ValueError("two deterrents share a pin")
        return self
