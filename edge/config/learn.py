"""Learning this coop's own cameras: empty scenes collected, a nightly re-fit that must earn
its promotion (``edge/learn/``)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from groundwork.section import Section


class LearnConfig(Section):
    """How the appliance collects its cameras' empty scenes and re-fits its head on them."""

    enabled: bool = Field(True, description="Collect empty scenes and re-fit on schedule")
    # One crop per camera every 5 minutes at most: at ~0.3 ms of the loop's time per crop and a
    # write on the collector's own thread, the frame loop never notices.
    scene_interval_s: float = Field(
        300.0, ge=1, le=86400,
        description="At most one empty-scene crop per camera this often (seconds)")
    still_s: float = Field(
        10.0, ge=0, le=3600,
        description="A camera must have seen no motion this long before its scene is sampled")
    # A hen laying sits still in the nest box for an hour; a fox may wait at the run. Neither
    # moves, so neither is told from an empty scene by the motion detector.
    after_visit_min: float = Field(
        60.0, ge=0, le=24 * 60,
        description="After a visit in which a hen or a predator was seen, the camera's scene is "
        "not sampled for this long (minutes), in case it is still there, at rest; a later visit "
        "that saw nothing ends the wait")
    per_hour: int = Field(
        8, ge=1, le=200,
        description="Crops kept per camera for each hour of the day (24 slots): the bound on "
        "disk (about 24 x per_hour x 100 kB per camera)")
    refresh_h: float = Field(
        72.0, ge=0, le=24 * 365,
        description="A full hour slot replaces its oldest crop only when that is older than "
        "this, so a slot spans several days rather than the last hour")
    uncontested_after_h: float = Field(
        24.0, ge=0, le=24 * 365,
        description="Motion the decider called nothing, and the owner did not label, joins the "
        "empty scenes after this long")
    refit_at: str = Field(
        "02:30", description="Local time of the nightly re-fit (HH:MM); empty: only on demand")
    refit_timeout_s: float = Field(
        3600.0, gt=0, le=86400, description="A re-fit taking longer is stopped")
    refit_nice: int = Field(19, ge=0, le=19, description="Niceness of the re-fit's process")
    shadow_hours: float = Field(
        20.0, ge=0, le=24 * 60,
        description="A re-fitted head stays a shadow at least this long before it is judged on "
        "its live answers too")
    prior_l2: float = Field(
        0.05, gt=0, le=100,
        description="How strongly a re-fit stays near the head it starts from (its L2 pull "
        "towards those weights)")
    # 0.2, not 0.05: leave-one-camera-out, the shipped head's re-fit kept every camera's test
    # predators at 0.2 (blended at night, as shipped) and lost one of 44 on 3 of 7 at 0.05
    # (README, "Measured: leave one camera out").
    default_prior_l2: float = Field(
        0.2, gt=0, le=100,
        description="prior_l2 for a re-fit of the shipped default head (a coop with no head "
        "its owner trained)")
    max_examples: int = Field(
        2000, ge=10, le=100000,
        description="At most this many crops per re-fit (bounds its memory and time)")

    @field_validator("refit_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"refit_at must be HH:MM (24 h) or empty, got {value!r}")
        return value
