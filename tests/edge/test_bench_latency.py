"""The latency benchmark users run: a smoke test with tiny arguments (figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_latency.py"
KEYS = {
    "board",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "floor_ms",
    "ratio_to_floor",
    "budget_ms",
    "baseline_p50_ms",
    "speedup_over_baseline",
    "stages",
}


def test_quick_run_reports_every_figure(asset_store) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--slow-factor", "2", "--cores", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert set(report) >= KEYS
    assert report["arrivals"] == 2
    assert report["slow_factor"] == 2 and report["cores"] == 1 and report["boards"] == []
    assert report["fired"] == 2, "every predator arrival must reach the pin"
    assert report["edge_measured_at"] == "input pin"
    assert report["e2e_p50_ms"] > 0 and report["floor_ms"] > 0 and report["baseline_p50_ms"] > 0
    assert {"capture", "motion", "inference", "pin", "total"} <= set(report["stages"])
    for idle in ("idle", "idle_live_page"):
        assert report[idle]["frames"] > 0 and report[idle]["cpu_percent_of_one_core"] > 0
    assert report["inference_alone"] and all(
        r["invoke_p50_ms"] > 0 for r in report["inference_alone"]
    )
    # The default configuration's second look is on: its extractor's invoke is reported too.
    roles = {(r["model"], r["role"]) for r in report["inference_alone"]}
    assert ("mobilenet_v1_embedding", "second look") in roles
    assert report["second_look_p50_ms"] > 0
