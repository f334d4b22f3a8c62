#!/usr/bin/env python3
"""The nightly re-fit's time and peak memory at a Pi Zero 2 W's budget: one core, 200 MB.

Builds an appliance state as it is after some days on a nest-box camera (``../shared/data/train``,
``chookeggcount:nestbox_cam``): its empty frames through the collector at the hours they were
taken, over ``--days`` days (the store keeps at most ``learn.per_hour`` per hour), ``--hens``
owner-labelled hens in the archive, and a blended head (trained on a subset of the shared photos,
not timed) promoted as the head that decides. Then runs ``tensorchicken learn refit`` as the
appliance's nightly child would, limited to one core and 200 MB: in cgroup v1 groups when
``/sys/fs/cgroup/cpu`` and ``/sys/fs/cgroup/memory`` are writable (a CPU quota of one core, a
memory limit; their own peak figure), else pinned to one core with ``taskset``; its peak
resident memory is the child's ``ru_maxrss``. The first re-fit embeds every crop; ``--runs 2``
also times the next night's, which finds them in the feature cache. With ``--start default``
no head is trained nor promoted: a fresh coop, whose re-fit starts from the shipped default head
(one head per camera). ``--cameras N`` gives the coop N cameras, each with the nest box's empty
frames (the hens are the first camera's): what a coop of several cameras costs a night.

    nice -n 10 .venv/bin/python scripts/bench_refit.py [--days 8] [--hens 12] [--runs 2] \
        [--start default] [--cameras 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("TENSORCHICKEN_SHARED", REPO.parent / "shared"))
os.environ.setdefault("TENSORCHICKEN_MIRROR", f"{SHARED / 'models'}:{SHARED / 'data'}")

from camera.frame import Frame  # noqa: E402
from classifier import load_classifier  # noqa: E402
from classifier.config import ModelsConfig  # noqa: E402
from classifier.registry import ModelRegistry  # noqa: E402
from edge.assets import AssetStore  # noqa: E402
from edge.config import Config, parse_config  # noqa: E402
from edge.events.archive import Archive  # noqa: E402
from edge.learn.collector import SceneCollector  # noqa: E402
from edge.learn.heads import zero_shot_config  # noqa: E402
from edge.learn.places import MotionPlaces  # noqa: E402
from edge.learn.scenes import SceneStore, scenes_dir  # noqa: E402
from edge.train.dataset import make_photo  # noqa: E402
from edge.train.labels import LABELS_FILE, LabelStore, archived_crops  # noqa: E402
from edge.train.retrain import RetrainPlan, retrain  # noqa: E402
from edge.train.trainer import TrainSettings  # noqa: E402

DATA = SHARED / "data"
CAMERA = "chookeggcount:nestbox_cam"
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")
BUDGET_MB = 200


def nest_box(label: str) -> list[Path]:
    with (DATA / "train" / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        return sorted(DATA / r["file"] for r in csv.DictReader(fh)
                      if r["camera"] == CAMERA and r["label"] == label)


def _read(path: Path) -> np.ndarray:
    """A BGR picture; SystemExit naming the file OpenCV cannot read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"bench_refit: cannot read {path}")
    return image


def taken_at(path: Path, days_later: int) -> float:
    t = time.strptime(path.stem.rsplit("image_", 1)[1], "%Y-%m-%d_%H%M")
    return time.mktime((t.tm_year + 10, t.tm_mon, t.tm_mday + days_later, t.tm_hour, t.tm_min,
                        0, 0, 0, -1))


def promote_a_retrained_head(state: Path, config: Config) -> None:
    """A blended head trained on a subset of the shared photos, promoted (not timed)."""
    store = AssetStore()
    photos = []
    with (DATA / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for label, count in (("chicken", 10), ("predator", 10), ("background", 6)):
        mine = [r for r in rows if r["label"] == label]
        photos += [make_photo(DATA / r["file"], label, r["subclass"], r["file"])
                   for r in mine[::max(1, len(mine) // count)][:count]]
    plan = RetrainPlan("coop", "base", state / "packages", TrainSettings(folds=0), ["flip"])
    # Trained on the zero-shot models' answers, as `train` trains it (edge.learn.heads).
    with load_classifier(zero_shot_config(ModelsConfig()), store) as current:
        package = retrain(photos, store, plan, current).package
    registry = ModelRegistry(state, config.models)
    registry.register("coop-base", package=package)
    registry.promote("coop-base")


def build_state(state: Path, config_file: Path, days: int, hens: int, package: bool) -> int:
    """The state folder after ``days`` of collecting on every camera of the configuration
    (with a retrained head promoted when ``package``); the number of scene crops kept by the
    first camera."""
    config = parse_config(json.loads(config_file.read_text(encoding="utf-8")))
    if package:
        promote_a_retrained_head(state, config)
    scenes = SceneStore(scenes_dir(state), config.learn.per_hour, config.learn.refresh_h)
    ticks = [0.0]

    def clock() -> float:
        ticks[0] += 1e6
        return ticks[0]

    collector = SceneCollector(scenes, MotionPlaces(seed=0), config.learn, clock=clock)
    seq = 0
    for day in range(days):
        for path in nest_box("background"):
            image = _read(path)
            grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (160, 90))
            seq += 1
            frame = Frame(seq, image, grey, time.monotonic_ns(), taken_at(path, day))
            for camera in config.cameras:
                collector.still(camera.name, frame, 224)
                collector.wait_idle()
    collector.close()
    archive = Archive(state / "archive", config.reporters.archive)
    for path in nest_box("chicken")[:hens]:
        rgb = cv2.cvtColor(cv2.resize(_read(path), (224, 224)), cv2.COLOR_BGR2RGB)
        archive.save("nest", taken_at(path, 0), None, {"mobilenet_v2_imagenet": rgb})
    labels = LabelStore(state / LABELS_FILE)
    labels.set([c.event for c in archived_crops(archive, labels, state / "events.sqlite3")],
               "chicken")
    return scenes.coverage("nest").crops


class Limits:
    """One core and BUDGET_MB for a child: cgroup v1 groups if we may make them, else taskset."""

    def __init__(self) -> None:
        name = f"tensorchicken-bench-refit-{os.getpid()}"
        self.cpu, self.memory = CGROUP_CPU / name, CGROUP_MEMORY / name
        try:
            self.cpu.mkdir()
            (self.cpu / "cpu.cfs_period_us").write_text("100000")
            (self.cpu / "cpu.cfs_quota_us").write_text("100000")
            self.memory.mkdir()
            (self.memory / "memory.limit_in_bytes").write_text(str(BUDGET_MB * 1024 * 1024))
            self.how = f"cgroup v1: cpu.cfs_quota_us 100000 of 100000, memory {BUDGET_MB} MB"
        except OSError as exc:
            self.close()
            self.cpu = self.memory = Path()
            self.how = f"taskset -c 0 (no cgroup: {exc.strerror})"

    def command(self, argv: list[str]) -> list[str]:
        if self.cpu != Path():
            enter = (f"echo $$ > {self.cpu}/cgroup.procs && echo $$ > "
                     f"{self.memory}/cgroup.procs && exec \"$@\"")
            return ["sh", "-c", enter, "sh", *argv]
        return ["taskset", "-c", "0", *argv]

    def peak_mb(self) -> float | None:
        if self.memory == Path():
            return None
        return int((self.memory / "memory.max_usage_in_bytes").read_text()) / 2**20

    def reset_peak(self) -> None:
        """Start the group's peak memory afresh (it is kept across runs otherwise)."""
        if self.memory != Path():
            (self.memory / "memory.max_usage_in_bytes").write_text("0")

    def failcnt(self) -> int:
        return 0 if self.memory == Path() else int((self.memory / "memory.failcnt").read_text())

    def close(self) -> None:
        for group in (self.cpu, self.memory):
            if group != Path() and group.exists():
                group.rmdir()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=8)
    p.add_argument("--hens", type=int, default=12)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--start", choices=("package", "default"), default="package",
                   help="re-fit a promoted retrained head, or the shipped default head")
    p.add_argument("--cameras", type=int, default=1, choices=range(1, 9), metavar="N",
                   help="cameras in the coop, each seeing the nest box's empty frames")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-refit-"))
    try:
        state = work / "state"
        config_file = work / "config.json"
        cameras = ["nest", *(f"nest{i}" for i in range(2, args.cameras + 1))]
        config_file.write_text(json.dumps({
            "cameras": [{"name": c} for c in cameras], "paths": {"state_dir": str(state)},
            "reporters": {"archive": {"min_free_mb": 0}}}), encoding="utf-8")
        scenes = build_state(state, config_file, args.days, args.hens,
                             args.start == "package")
        print(f"state: {scenes} empty-scene crops of each of {args.cameras} camera(s) over "
              f"{args.days} days, "
              f"{args.hens} labelled hens; re-fit from the {args.start} head; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        limits = Limits()
        print(f"limits: {limits.how}")
        try:
            for n in range(1, args.runs + 1):
                limits.reset_peak()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                done = subprocess.run(limits.command(
                    [sys.executable, "-m", "edge.cli", "learn", "-c", str(config_file),
                     "refit", "--json"]), capture_output=True, text=True, check=False,
                    env={**os.environ, "PYTHONPATH": str(REPO)})
                wall = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode != 0:
                    print(f"run {n}: failed (exit {done.returncode}, memory limit hits "
                          f"{limits.failcnt()}): {done.stderr.strip()[-800:]}")
                    return 1
                run = json.loads(done.stdout)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                group = limits.peak_mb()
                # The child's own peak resident memory (ru_maxrss, shared library and model
                # pages included) is its run record's peak_mb; the cgroup's counts only the
                # pages charged to it (not those already cached by another process).
                print(f"run {n}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS "
                      f"{run['peak_mb']} MB (the child's ru_maxrss)"
                      + (f", cgroup peak {group:.0f} MB" if group is not None else "")
                      + f"; the re-fit itself: {run['seconds']} s; "
                      f"examples {run['examples']}")
        finally:
            limits.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
