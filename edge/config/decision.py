"""When a classification becomes a deterrent firing.

The defaults, and why (the README can take this paragraph as it is):

- Which frame shows a predator is the classifier's verdict alone: its predator score (the summed
  probability of every predator label) at or above ``models.predator_threshold`` (0.5). There is
  no second threshold here, so an event called "predator" is always one the decider counted.
  0.5 rather than the 0.3 that finds a few more predators on whole photos, because people walking
  past a camera are taken for dogs at up to 0.66 and must not set off the siren. Check yours with
  ``tensorchicken eval`` on your own photos; lower it for a model that spreads its probability
  thinly, raise it if a cat or a dog that belongs there sets things off.
- Decisions are taken on the visit (one camera's motion episode, over after 2 s without
  motion), and counted in its *classified frames*, not in seconds: ``confirm_n: 2`` of the
  visit's last ``confirm_m: 3`` classified frames called predator. One bad frame (a moth in the
  infrared, a hen half in shadow, a person's legs at the edge of the picture) never fires, one
  missed frame does not reset the count, and on a slow board (300-1200 ms per inference) two
  predator frames still confirm, only later; a seconds window would let them drift apart and
  never fire. The count starts afresh with each visit. ``confirm_n: 1`` is the fastest
  response, for a quiet scene.
- ``chicken_veto: 0.4``: a chicken score this high in any classified frame of the visit (in
  any of a frame's moving regions, when several are classified) keeps the vetoed deterrents
  (the sprinkler) off. A hen is in view well before 0.5; wetting a hen is worse than a late spray.
- ``cooldown_s: 40``: after a firing the decider asks for nothing for 40 s: longer than every
  default burst plus its ``min_rest_s`` (30 s), so the next firing finds every device rested and
  fires the whole bank, not whichever device happened to rest first. Only a firing that switched
  something on starts the cooldown: a confirmation that found every device resting is logged as
  ``refused`` and the next confirmed frame tries again.
- ``quiet_hours``: none by default; in them the ``quiet_devices`` (the siren kinds) stay silent
  and the floodlight and sprinkler still fire.
- ``hens_live_in``: none by default; the cameras that look where hens always are (a nest box, a
  roost). Their visits never fire the vetoed deterrents (the sprinkler), whatever the chicken
  score: measured held out by camera, hens in a nest-box or broiler camera the models never saw
  are recognised as chicken about 2 times in 3 by day and 1 of 12 at night, so the veto cannot
  be relied on there. The siren and floodlight still fire.
"""

from __future__ import annotations

import re
from datetime import time

from pydantic import Field, ValidationInfo, field_validator, model_validator

from groundwork.section import Section

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietHours(Section):
    """A daily span (local time, may cross midnight) with no noisy deterrent."""

    start: str = Field(description="HH:MM, the first quiet minute")
    end: str = Field(description="HH:MM, the first minute no longer quiet")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(f"start and end are both {self.start}: the span would be empty")
        return self

    def contains(self, now: time) -> bool:
        """Whether ``now`` falls in the span (start included, end excluded)."""
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        now = now.replace(tzinfo=None)
        if start < end:
            return start <= now < end
        return now >= start or now < end


class DecisionConfig(Section):
    """Confirmation, veto, cooldown, arming and quiet hours (the predator threshold is the
    classifier's: ``models.predator_threshold``)."""

    armed: bool = Field(
        # Disarmed unless the file says so: a new file with real pins must not fire before
        # its wiring was checked (tensorchicken test-deterrents).
        default=False,
        description="Fire deterrents at all: only when true (also set from the CLI and MQTT)",
    )
    confirm_n: int = Field(
        default=2, ge=1, le=50,
        description="Classified frames of the visit the classifier called predator needed ...",
    )
    confirm_m: int = Field(
        default=3, ge=1, le=50, description="... among the visit's last M classified frames"
    )
    chicken_veto: float = Field(
        default=0.4, gt=0, le=1,
        description="Chicken score (any classified frame of the visit) keeping vetoed "
        "deterrents off",
    )
    cooldown_s: float = Field(
        default=40.0, ge=0, le=3600, description="No new firing this long after one"
    )
    quiet_hours: list[QuietHours] = Field(
        default_factory=list, description="Daily spans in which the quiet_devices stay silent"
    )
    quiet_devices: list[str] = Field(
        default_factory=lambda: ["siren", "tonal_siren"],
        description="Deterrent names or kinds silenced in quiet hours",
    )
    hens_live_in: list[str] = Field(
        default_factory=list,
        description="Cameras where hens always are (a nest box, a roost): their visits never "
        "fire the chicken-vetoed deterrents (the sprinkler), whatever the chicken score",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_window(cls, data: object) -> object:
        # An owner's older configuration: say what replaced it rather than "extra input".
        if isinstance(data, dict) and "window_s" in data:
            raise ValueError(
                "window_s is no longer used: confirmation counts the classified frames of one "
                "visit (confirm_n of confirm_m), however long a slow board takes; remove it"
            )
        return data

    @field_validator("confirm_m")
    @classmethod
    def _m_not_less_than_n(cls, value: int, info: ValidationInfo) -> int:
        n = info.data.get("confirm_n", 1)
        if value < n:
            raise ValueError(f"confirm_m ({value}) must be at least confirm_n ({n})")
        return value

    def is_quiet(self, now: time) -> bool:
        """Whether ``now`` (local time) is in any quiet span."""
        return any(span.contains(now) for span in self.quiet_hours)
