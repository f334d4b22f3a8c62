"""Each check looks at one part (clock, disk, models, cameras, pins, broker, reporters) and
returns findings; none of them raises."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from camera.config import CameraConfig
from edge.assets import AssetStore
from edge.config import Config
from edge.events.log import EventLog
from edge.paths import default_state_dir

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing doctor found: which part, how bad, and what to do."""

    part: str
    status: str
    message: str


Check = Callable[[Config, AssetStore], Iterator[Finding]]


def state_dir_of(config: Config) -> Path:
    """Where the event log and archive are for this configuration."""
    return Path(config.paths.state_dir) if config.paths.state_dir else default_state_dir()


def service_pid(config: Config) -> int | None:
    """The pid of an appliance running on this configuration's state folder, or None.

    Read from the models status that a running appliance keeps up to date
    (:mod:`classifier.keeper`) and checked against the process table: no pid file needed.
    """
    from classifier.keeper import read_status

    status = read_status(state_dir_of(config))
    if not status or not status.get("running", False):
        return None
    try:
        pid = int(status["pid"])
        os.kill(pid, 0)
    except PermissionError:  # alive, another user's (the service's)
        return pid
    except (KeyError, TypeError, ValueError, ProcessLookupError):
        return None
    return pid


def _exclusive(cam: CameraConfig) -> bool:
    """Whether only one process can open this camera (a file or a stream can be shared)."""
    address = cam.address.strip()
    return cam.kind == "picamera2" or (
        cam.kind == "opencv" and (address.isdigit() or address.startswith("/dev/"))
    )


def _in_use(part: str, pid: int, what: str) -> Finding:
    return Finding(part, WARN, f"in use by the running service (pid {pid}): {what}; stop it "
                   "(sudo systemctl stop tensorchicken) to check this part")


def check_clock(config: Config, store: AssetStore) -> Iterator[Finding]:
    """A Pi has no battery clock: event times are wrong until NTP has synchronised."""
    year = time.gmtime().tm_year
    if year < 2025:
        yield Finding(
            "clock", FAIL, f"the clock says {year}: set the time or check the network (NTP)"
        )
    elif Path("/run/systemd/timesync/synchronized").exists():
        yield Finding("clock", OK, "synchronised by systemd-timesyncd")
    else:
        yield Finding("clock", WARN, "no sign of NTP synchronisation; event times may drift")


def check_disk(config: Config, store: AssetStore) -> Iterator[Finding]:
    """Enough free space for the event log, and above the archive's floor."""
    state = state_dir_of(config)
    probe = state if state.exists() else state.parent
    while not probe.exists():
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free / 1e6
    floor = config.reporters.archive.min_free_mb
    if free_mb < max(floor, 50):
        yield Finding(
            "disk",
            FAIL,
            f"{free_mb:.0f} MB free at {probe}; the archive keeps {floor:.0f} MB free "
            "by deleting old snapshots: free some space or lower reporters.archive.min_free_mb",
        )
    else:
        yield Finding("disk", OK, f"{free_mb:.0f} MB free at {probe}")
    if state.exists() and not state.is_dir():
        yield Finding("disk", FAIL, f"the state folder (paths.state_dir) {state}: a file is "
                      "there, not a folder")
    elif state.exists() and not os.access(state, os.W_OK):
        yield Finding("disk", FAIL, f"{state} is not writable by this user")
    elif state.exists() and (refused := _cannot_write(state)):
        yield Finding("disk", FAIL, f"{state}: {refused}: EVENTS ARE NOT BEING KEPT; the "
                      "appliance guards on and holds them in memory until there is room: "
                      "free some space")


def _cannot_write(folder: Path) -> str | None:
    """Why a page of the event log could not be written in ``folder`` now, or None."""
    probe = folder / ".doctor-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, bytes(65536))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        probe.unlink(missing_ok=True)
    return None


def check_arming(config: Config, store: AssetStore) -> Iterator[Finding]:
    """Armed or not at the next start, and which decision is in force: the configuration or
    the owner's last command."""
    from edge.arming import ArmingMemory

    choice = ArmingMemory(state_dir_of(config)).choose(config)
    yield Finding("armed", OK, f"{'armed' if choice.armed else 'disarmed'} at start: {choice.why}")


def check_models(config: Config, store: AssetStore) -> Iterator[Finding]:
    """Every configured model loads, matches its manifest, and runs once."""
    from classifier import load_classifier

    started = time.monotonic()
    try:
        classifier = load_classifier(config.models, store)
    except Exception as exc:  # doctor reports every failure in words
        yield Finding("models", FAIL, str(exc))
        return
    try:
        import numpy as np

        classifier.classify(np.zeros((224, 224, 3), np.uint8))
        ms = (time.monotonic() - started) * 1000
        yield Finding(
            "models", OK, f"{', '.join(classifier.model_names)} loaded and ran ({ms:.0f} ms)"
        )
    finally:
        classifier.close()
    yield from _off_path_models(config, store)


def _off_path_models(config: Config, store: AssetStore) -> Iterator[Finding]:
    """A shadow or canary model that will not load: the guard starts without it (edge.app)."""
    from classifier.rendezvous import unloadable_off_path

    for use, exc in unloadable_off_path(config.models, store):
        yield Finding("models", WARN, f"{use.role} model {use.name} does not load, and the "
                      f"guard runs without it: {exc}")


def check_rendezvous(config: Config, store: AssetStore) -> Iterator[Finding]:
    """The running appliance's models: the canary alarm and a refused model change."""
    from classifier.keeper import read_status

    status = read_status(state_dir_of(config))
    if status is None:
        return
    canary = status.get("canary") or {}
    if canary.get("alarm"):
        yield Finding("canary", WARN, f"canary alarm: {canary.get('message')}; "
                      "compare with 'tensorchicken models compare', roll back with "
                      "'tensorchicken models rollback'")
    elif canary.get("canary"):
        yield Finding("canary", OK, str(canary.get("message")))
    if status.get("last_error"):
        yield Finding("models", WARN, f"last model change refused: {status['last_error']}")


def check_cameras(config: Config, store: AssetStore) -> Iterator[Finding]:
    """Each camera opens and gives a frame within its stall limit."""
    from camera.opening import open_source

    for cam in config.cameras:
        part = f"camera {cam.name}"
        pid = service_pid(config) if _exclusive(cam) else None
        try:
            source = open_source(cam, store.resolve)
            source.open()
        except Exception as exc:
            opened = f"cannot open {cam.kind} {cam.address!r}: {exc}"
            yield _in_use(part, pid, opened) if pid else Finding(part, FAIL, opened)
            continue
        try:
            found = _first_frame(part, source, cam.stall_s)
            if pid and found.status == FAIL:
                found = _in_use(part, pid, found.message)
            yield found
        finally:
            source.close()


def _first_frame(part: str, source: object, within_s: float) -> Finding:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            frame = source.read()  # type: ignore[attr-defined]
        except Exception as exc:
            return Finding(part, FAIL, f"reading a frame failed: {exc}")
        if frame is not None:
            width, height = frame.size
            return Finding(part, OK, f"{width}x{height} frames")
    return Finding(
        part,
        FAIL,
        f"no frame within {within_s:.0f} s (camera connected? in use by another program?)",
    )


def check_pins(config: Config, store: AssetStore) -> Iterator[Finding]:
    """The deterrent pins can be claimed (and are left off)."""
    from actuators.bank import DeterrentBank, make_pin_factory

    if config.gpio.pin_factory == "auto" and not any(Path("/dev").glob("gpiochip*")):
        yield Finding("pins", FAIL, "no /dev/gpiochip*: not a Raspberry Pi, or GPIO is not enabled")
        return
    if pid := service_pid(config):
        # Never touch the pins the service drives: claiming one could switch a deterrent off.
        yield _in_use("pins", pid, "the deterrent pins were not claimed")
        return
    try:
        bank = DeterrentBank(config.gpio, pin_factory=make_pin_factory(config.gpio.pin_factory))
    except Exception as exc:
        yield Finding(
            "pins",
            FAIL,
            f"cannot claim the deterrent pins: {exc} "
            "(is the service already running? is this user in the gpio group?)",
        )
        return
    with bank:
        wiring = ", ".join(f"{d.name} on {d.pin}" for d in config.gpio.deterrents)
        yield Finding("pins", OK, f"{config.gpio.pin_factory} pins: {wiring}")


def check_broker(config: Config, store: AssetStore) -> Iterator[Finding]:
    """The MQTT broker answers on its address."""
    mqtt = config.reporters.mqtt
    if not mqtt.enabled:
        yield Finding("mqtt", OK, "disabled")
        return
    try:
        with socket.create_connection((mqtt.host, mqtt.port), timeout=5):
            pass
    except OSError as exc:
        yield Finding(
            "mqtt", FAIL, f"broker {mqtt.host}:{mqtt.port} unreachable: {exc.strerror or exc}"
        )
        return
    yield Finding("mqtt", OK, f"broker {mqtt.host}:{mqtt.port} reachable")


def check_reporters(config: Config, store: AssetStore) -> Iterator[Finding]:
    """Reporters that are behind, failing or stopped (read from the event log)."""
    path = state_dir_of(config) / "events.sqlite3"
    if not path.exists():
        yield Finding("reporters", OK, "no event log yet")
        return
    log = EventLog(path, readonly=True)
    try:
        for sink in log.sink_status():
            part = f"reporter {sink.name}"
            holds = _twitter_holds(log, config) if sink.name == "twitter" else []
            if sink.stopped_reason:
                yield Finding(part, FAIL, f"stopped: {sink.stopped_reason}")
            elif holds:
                yield Finding(part, WARN, "; ".join([*holds, f"{sink.backlog} event(s) waiting"]))
            elif sink.last_error:
                yield Finding(
                    part, WARN, f"{sink.backlog} event(s) waiting; last error: {sink.last_error}"
                )
            else:
                yield Finding(part, OK, f"{sink.backlog} event(s) waiting")
    finally:
        log.close()


def _twitter_holds(log: EventLog, config: Config) -> list[str]:
    from edge.events.twitter import posting_holds

    return posting_holds(log.sink_state("twitter"), config.reporters.twitter, time.time())


def check_learning(config: Config, store: AssetStore) -> Iterator[Finding]:
    """How much of its scene each camera has learned; the last re-fit and what it changed."""
    from edge.learn.describe import describe_camera
    from edge.learn.record import LearnRecord
    from edge.learn.scenes import SceneStore, scenes_dir

    if not config.learn.enabled:
        yield Finding("learning", OK, "off (learn.enabled: false)")
        return
    state = state_dir_of(config)
    yield from _camera_heads(config, state)
    scenes = SceneStore(scenes_dir(state), config.learn.per_hour, config.learn.refresh_h)
    for camera in config.cameras:
        coverage = scenes.coverage(camera.name)
        yield Finding("learning", OK if len(coverage.hours) >= 12 else WARN,
                      coverage.describe() + ("" if len(coverage.hours) >= 12 else
                                             "; it learns a camera's scene as it runs"))
    record = LearnRecord(state)
    last = record.last("refit")
    if last is None:
        yield Finding("learning", OK, "no re-fit yet" + (
            f" (nightly at {config.learn.refit_at})" if config.learn.refit_at else ""))
        return
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last["at"]))
    changed = "; ".join(describe_camera(c) for c in last["offline"]["cameras"])
    yield Finding("learning", OK, f"last re-fit {when} ({last['candidate']}, "
                  f"{last['seconds']} s): {changed}")
    judged = record.last("judge")
    if judged is not None and not judged.get("deferred"):
        # A default head's re-fits are judged camera by camera; a package's once.
        outcomes = ([(f"{o['name']} (camera {c})", o) for c, o in sorted(judged["cameras"].items())]
                    if "cameras" in judged else [(judged["candidate"], judged)])
        for name, o in outcomes:
            outcome = "promoted" if o["promoted"] else "left a shadow: " + "; ".join(
                o["reasons"])
            yield Finding("learning", OK, f"{name} {outcome}")


def _camera_heads(config: Config, state: Path) -> Iterator[Finding]:
    """Each camera's own re-fitted default head (and the one waiting as its shadow) loads; one
    that does not is named, with what decides instead."""
    from classifier.errors import ClassifierError
    from classifier.feature_head import heads_in_use
    from classifier.registry import ModelRegistry
    from edge.learn.describe import where_it_decides

    try:
        heads = heads_in_use(ModelRegistry(state, config.models).effective())
    except ClassifierError as exc:
        yield Finding("learning", FAIL, str(exc))
        return
    look = heads["second_look"]
    if look is not None and look["error"] is not None:
        yield Finding("learning", WARN, f"the second look does not load ({look['error']}); the "
                      "default head decides every crop (models.second_look: false says so)")
    for key, role, instead in (
            ("camera_heads", "re-fitted default head",
             "the shipped head decides its crops; the next re-fit or 'tensorchicken models "
             "rollback' replaces it"),
            ("camera_head_shadows", "default head's shadow",
             "it is not scored; the next re-fit replaces it")):
        for camera, head in sorted(heads[key].items()):
            if head["error"] is not None:
                yield Finding("learning", WARN, f"camera {camera}: its {role} does not load "
                              f"({head['error']}); {instead}")
            elif key == "camera_heads":
                yield Finding("learning", OK, f"camera {camera} decides with its own re-fit "
                              f"{head['name']}{where_it_decides(head)}")


ALL_CHECKS: tuple[Check, ...] = (
    check_clock,
    check_disk,
    check_arming,
    check_models,
    check_rendezvous,
    check_learning,
    check_cameras,
    check_pins,
    check_broker,
    check_reporters,
)


def run_checks(
    config: Config, store: AssetStore, checks: tuple[Check, ...] = ALL_CHECKS
) -> list[Finding]:
    """Every check's findings; a check that crashes is itself a finding."""
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check(config, store))
        except Exception as exc:
            findings.append(
                Finding(check.__name__.removeprefix("check_"), FAIL, f"check crashed: {exc!r}")
            )
    return findings

