"""The one line ``systemctl status`` shows for the appliance (systemd's STATUS=)."""

from __future__ import annotations

from collections.abc import Sequence


def status_line(
    cameras: int, models: Sequence[str], waiting: Sequence[str], problem: str | None
) -> str:
    """What runs (``cameras`` camera loops, ``models``), which cameras are awaited, and why
    events are not kept (``problem``), if they are not."""
    line = f"watching {cameras} camera(s), models {', '.join(models)}"
    line += f"; waiting for camera(s): {', '.join(waiting)}" if waiting else ""
    return line + (f"; EVENTS NOT KEPT (held in memory): {problem}" if problem else "")
