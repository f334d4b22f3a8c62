"""Re-fits and judgements in words, for ``tensorchicken learn`` and ``doctor``."""

from __future__ import annotations

import time
from typing import Any


def where_it_decides(head: dict[str, Any]) -> str:
    """For a head of :func:`classifier.feature_head.heads_in_use`: "" or, for a gated re-fit,
    "; decides near its N crops, the shipped head elsewhere"."""
    n = head.get("scene_crops")
    return "" if not n else f"; decides near its {n} crops, the shipped head elsewhere"


def describe_run(run: dict[str, Any]) -> str:
    """A re-fit or judgement in a few lines, for people."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["at"]))
    if run["kind"] == "refit":
        now = (f"a shadow now, beside {run['running']}" if run.get("start") != "default"
               else "one per camera, each a shadow now beside the default head it blends ("
               + ", ".join(f"{c}: {n}" for c, n in sorted(run.get("heads", {}).items())) + ")")
        lines = [f"{when} re-fit {run['candidate']} from {run['base']} in {run['seconds']} s "
                 f"({run['peak_mb']} MB): {now}"]
        for camera in run["offline"]["cameras"]:
            lines.append("  " + describe_camera(camera))
        lines += [f"  {camera}: {near} of {n} held-out crops within the re-fit's scene (it "
                  "decides those, the head it started from the rest)"
                  for camera, (near, n) in sorted(run.get("within_scene", {}).items()) if n]
        reasons = run["offline"]["reasons"]
        lines.append("  held out: " + ("; ".join(reasons) if reasons else
                                       "at least as good everywhere (judged after its shadow "
                                       "hours on its live answers too)"))
        return "\n".join(lines)
    if run.get("deferred"):
        return f"{when} {run['candidate']}: not judged yet: {run['reasons'][0]}"
    if "cameras" in run:  # a default head's re-fits, judged camera by camera
        lines = [f"{when} {run['candidate']}, camera by camera:"]
        lines += [f"  {camera}: {o['name']} " + ("promoted (models rollback undoes it)"
                  if o["promoted"] else "stays a shadow: " + "; ".join(o["reasons"]))
                  for camera, o in sorted(run["cameras"].items())]
        head = "\n".join(lines)
    else:
        head = (f"{when} {run['candidate']}: " + ("promoted (models rollback undoes it)"
                if run["promoted"] else "stays a shadow: " + "; ".join(run["reasons"])))
    shown = [f"  disagrees on {d['source']}: decided {d['running']}, it says {d['candidate']}"
             f"{', owner: ' + d['truth'] if d['truth'] else ''}"
             for d in run.get("shadow_disagreements", [])[:10]]
    return "\n".join([head, *shown])


def describe_camera(c: dict[str, Any]) -> str:
    """One camera's held-out comparison in one line."""
    e = c["empty"]
    parts = [f"{c['camera']}: empty scenes called predator {e['running_alarms']} -> "
             f"{e['candidate_alarms']} of {e['n']}"]
    parts += [f"{label} right {v['running']} -> {v['candidate']} of {v['n']}"
              for label, v in sorted(c["labelled"].items())]
    return ", ".join(parts)
