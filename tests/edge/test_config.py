"""The configuration: defaults, good files, and every kind of bad one with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import Config, ConfigError, load_config, parse_config


def problems(data: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "test.yaml")
    return info.value.problems


def test_defaults_run_on_a_laptop() -> None:
    config = Config()
    assert config.cameras[0].kind == "replay"
    assert config.cameras[0].address.startswith("asset:")
    assert config.gpio.pin_factory == "mock"
    assert not config.reporters.mqtt.enabled
    assert not config.reporters.twitter.enabled
    assert config.reporters.archive.enabled


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_an_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    # A truncated config.yaml on the boot partition must not run "fine" on mock pins.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "(file): the file is empty (no sections): a truncated file? "
        "Write at least the sections you use"]


def test_a_file_without_armed_is_disarmed(tmp_path: Path) -> None:
    # An owner's own file with real pins and no armed: line must not fire at first boot.
    path = tmp_path / "config.yaml"
    path.write_text("gpio: {pin_factory: auto}\n")
    assert load_config(path).decision.armed is False
    assert Config().decision.armed is False
    path.write_text("decision: {armed: true}\n")
    assert load_config(path).decision.armed is True


def test_good_file(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(
        "cameras:\n"
        "  - {name: coop, kind: picamera2, address: '0', width: 2304, height: 1296, fps: 15,\n"
        "     motion: {masks: [[[0, 0], [0.2, 0], [0.2, 0.1]]]}}\n"
        "decision: {confirm_n: 2, confirm_m: 3, quiet_hours: [{start: '22:00', end: '05:30'}]}\n"
        "reporters: {mqtt: {enabled: true, host: broker.local, username: hens}}\n"
        "gpio: {pin_factory: auto}\n"
    )
    config = load_config(path)
    assert config.cameras[0].fps == 15
    assert config.decision.quiet_hours[0].end == "05:30"
    assert config.reporters.mqtt.host == "broker.local"


def test_every_problem_is_reported_at_once_with_its_key_path() -> None:
    found = problems(
        {
            "cameras": [{"fps": 0, "colour": "red", "motion": {"blur": 4}}],
            "decision": {
                "cooldown_s": -1,
                "quiet_hours": [{"start": "25:00", "end": "05:00"}],
            },
            "gpio": {"pin_factory": "banana"},
            "surprise": 1,
        }
    )
    assert found == [
        "cameras.0.fps: Input should be greater than 0 (got 0)",
        "cameras.0.motion: blur must be odd, got 4",
        "cameras.0.colour: unknown key; this section's keys: address, arrivals, fps, height, "
        "kind, loop, motion, name, realtime, ring_size, stall_s, width",
        "decision.cooldown_s: Input should be greater than or equal to 0 (got -1)",
        "decision.quiet_hours.0.start: expected HH:MM (24-hour), got '25:00'",
        "gpio.pin_factory: Input should be 'mock' or 'auto' (got 'banana')",
        "surprise: unknown key; this section's keys: cameras, clips, decision, gpio, health, "
        "learn, logging, models, outcome, paths, reporters, web",
    ]


def test_an_unknown_key_says_what_was_meant() -> None:
    # A typo gets the nearest key of its section; a key in the wrong section, where it lives.
    assert problems({"reporters": {"mqtt": {"hots": "broker"}}}) == [
        "reporters.mqtt.hots: unknown key; did you mean 'host'?"]
    assert problems({"cameras": [{"motion": {"warmup": 2}}]}) == [
        "cameras.0.motion.warmup: unknown key; did you mean 'warmup_s'?"]
    assert problems({"cameras": [{"warmup_s": 2}], "mqtt": {}}) == [
        "cameras.0.warmup_s: unknown key here; it is cameras[].motion.warmup_s",
        "mqtt: unknown key here; it is reporters.mqtt"]


def test_addresses_are_checked_with_the_file_not_when_the_server_starts() -> None:
    assert problems({"health": {"metrics_address": "notanaddress"},
                     "web": {"address": "127.0.0.1:99999"}}) == [
        "health.metrics_address: address 'notanaddress': expected host:port, e.g. 127.0.0.1:9464",
        "web.address: address '127.0.0.1:99999': expected host:port, e.g. 127.0.0.1:9464",
    ]


def test_a_model_or_asset_the_manifest_does_not_have_is_named_with_the_file() -> None:
    # Found by validate-config (exit 2, not retried), not by a start that fails or a camera
    # awaited for ever.
    (found,) = problems({"models": {"use": [{"name": "mobilenet_v2_imagenett"}]}})
    assert found.startswith("models.use: 'mobilenet_v2_imagenett' is not a classifier of the "
                            "model manifest (")
    (found,) = problems({"cameras": [{"address": "asset:nope.mp4"}]})
    assert found == ("cameras: 'asset:nope.mp4': no such file in the asset manifest (an asset: "
                     "address names one of its files)")
    parse_config({"models": {"use": [{"name": "own", "package": "/srv/own"}]}})  # a package


def test_problems_that_span_sections_are_all_listed_at_once() -> None:
    # Each used to stop the check: a file with three of them took three runs to mend.
    assert problems({"cameras": [{"name": "nest"}, {"name": "nest"}],
                     "decision": {"hens_live_in": ["coop"], "quiet_devices": ["sirne"]}}) == [
        "cameras: two cameras share the name nest",
        "decision.hens_live_in: 'coop' is not a camera's name (nest, nest)",
        "decision.quiet_devices: 'sirne' is neither a deterrent kind (siren, tonal_siren, "
        "floodlight, sprinkler) nor a deterrent name (siren, floodlight, sprinkler)",
    ]


def test_wrong_types_name_the_key() -> None:
    assert problems({"cameras": [{"width": "wide"}]}) == [
        "cameras.0.width: Input should be a valid integer, unable to parse string as an integer "
        "(got 'wide')"
    ]
    assert problems({"cameras": "coop"}) == ["cameras: Input should be a valid list (got 'coop')"]


def test_cross_field_rules() -> None:
    assert problems({"decision": {"confirm_n": 4, "confirm_m": 2}}) == [
        "decision.confirm_m: confirm_m (2) must be at least confirm_n (4)"
    ]
    assert problems({"models": {"use": [{"name": "a", "role": "critical"}]}}) == [
        "models: exactly one model must have role primary, found 0"
    ]


def test_a_secret_in_the_file_is_refused_without_echoing_it() -> None:
    found = problems({"reporters": {"mqtt": {"password": "hunter2"}}})
    assert len(found) == 1
    assert found[0].startswith(
        "reporters: mqtt.password: secrets are not read from the config file"
    )
    assert "hunter2" not in found[0]


def test_not_a_mapping_and_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"expected a mapping of sections, got list"):
        load_config(path)
    path.write_text("cameras: [\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2, column 1"):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it: No such file or directory"):
        load_config(tmp_path / "absent.yaml")


def test_quiet_devices_must_name_a_deterrent_or_a_kind() -> None:
    assert problems({"decision": {"quiet_devices": ["siren", "sirne"]}}) == [
        "decision.quiet_devices: 'sirne' is neither a deterrent kind (siren, tonal_siren, "
        "floodlight, sprinkler) nor a deterrent name (siren, floodlight, sprinkler)"
    ]
    named = {"decision": {"quiet_devices": ["horn", "floodlight"]},
             "gpio": {"deterrents": [{"name": "horn", "kind": "siren", "pin": 17}]}}
    assert parse_config(named).decision.quiet_devices == ["horn", "floodlight"]


REPO = Path(__file__).resolve().parents[2]


def installer_config() -> str:
    """The configuration scripts/install.sh writes on a fresh Pi (its default_config heredoc)."""
    script = (REPO / "scripts" / "install.sh").read_text()
    body = script.split("default_config() {\n    cat <<'EOF'\n", 1)[1]
    return body.split("\nEOF\n", 1)[0] + "\n"


def test_the_shipped_files_are_valid(tmp_path: Path) -> None:
    installed = tmp_path / "config.yaml"
    installed.write_text(installer_config())
    for path in [REPO / "edge" / "demo.yaml", installed]:
        load_config(path)
    assert "picamera2" in installed.read_text()  # the heredoc was found, not an empty file


def test_motion_settings_written_in_frames_are_read_as_the_seconds_they_were() -> None:
    # Before the warm-up and re-learning were times they were frame counts: a file that
    # still says so must start the guard, with the same behaviour at its camera's rate.
    config = parse_config({"cameras": [
        {"name": "run", "fps": 5, "motion": {"warmup_frames": 10, "relearn_frames": 2}},
        {"name": "nest", "motion": {"warmup_frames": 20}}]}, "test.yaml")
    run, nest = config.cameras
    # N frames learnt after the first: N + 1 frame times.
    assert (run.motion.warmup_s, run.motion.relearn_s) == (2.2, 0.6)
    assert nest.motion.warmup_s == 2.1  # at the default 10 fps
    assert problems({"cameras": [{"motion": {"warmup_frames": -1}}]}) == [
        "cameras.0: motion.warmup_frames (now warmup_s, in seconds) must be a whole number of "
        "frames, 0 or more; got -1"]


def test_two_cameras_of_one_name_are_refused() -> None:
    cams = [{"name": "coop", "kind": "replay"}, {"name": "coop", "kind": "opencv"}]
    assert problems({"cameras": cams}) == ["cameras: two cameras share the name coop"]
