"""What machine this is, so that benchmark figures can be compared between boards."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

_MODEL_FILES = (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))
_GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip("\x00\n ") or None
    except OSError:
        return None


def board_name() -> str:
    """The board (``Raspberry Pi 4 Model B Rev 1.4``) or, off a Pi, the CPU model and machine."""
    for path in _MODEL_FILES:
        if name := _read(path):
            return name
    cpuinfo = _read(Path("/proc/cpuinfo")) or ""
    for line in cpuinfo.splitlines():
        if line.lower().startswith(("model name", "hardware")):
            return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    return platform.machine() or "unknown"


def memory_kb(pid: int | str = "self") -> tuple[int, int]:
    """A process's resident memory and its peak so far (kB; Linux, from /proc), for the
    benchmarks' memory figures."""
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def runtime_name() -> str:
    """Which TFLite runtime the classifier will use, with its version."""
    for dist in ("ai-edge-litert", "tflite-runtime", "tensorflow"):
        if version := _version(dist):
            return f"{dist} {version}"
    return "none installed"


def describe() -> dict[str, str | int | None]:
    """Board, CPU governor, core count, Python, runtime, NumPy and OpenCV versions."""
    import os

    return {
        "board": board_name(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "governor": _read(_GOVERNOR) or "unknown",
        "python": sys.version.split()[0],
        "runtime": runtime_name(),
        "numpy": _version("numpy"),
        "opencv": _version("opencv-python-headless") or _version("opencv-python"),
    }
