"""When a classification becomes a deterrent firing."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from edge.config.base import Section

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietHours(Section):
    """A daily span (local time, may cross midnight) with no noisy deterrent."""

    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
        return value


class DecisionConfig(Section):
    """Thresholds, confirmation, veto, cooldown, arming and quiet hours."""

    armed: bool = Field(True, description="Fire deterrents at all")
    predator_threshold: float = Field(0.5, gt=0, le=1, description="Predator score that counts")
    confirm_n: int = Field(1, ge=1, le=50, description="Frames over threshold needed ...")
    confirm_m: int = Field(3, ge=1, le=50, description="... among the last M classified frames")
    window_s: float = Field(3.0, gt=0, le=600, description="... all within this many seconds")
    chicken_veto: float = Field(
        0.4, gt=0, le=1, description="Chicken score above which vetoed deterrents stay off"
    )
    cooldown_s: float = Field(20.0, ge=0, le=3600, description="Quiet time after a firing")
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    quiet_devices: list[str] = Field(
        default_factory=lambda: ["siren"], description="Deterrents silenced in quiet hours"
    )

    @field_validator("confirm_m")
    @classmethod
    def _m_not_less_than_n(cls, value: int, info) -> int:  # type: ignore[no-untyped-def]
        n = info.data.get("confirm_n", 1)
        if value < n:
            raise ValueError(f"confirm_m ({value}) must be at least confirm_n ({n})")
        return value
