"""The X reporter: real tweepy and requests code against a fake X at the HTTP layer."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import cv2
import pytest
import responses
from oauthlib.oauth1 import Client as OAuthClient
from oauthlib.oauth1.rfc5849 import signature as oauth_sig
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header
from pydantic import SecretStr

from edge.config.reporters import ArchiveConfig, ReportersConfig, TwitterConfig
from edge.event import Event
from edge.events import (
    Archive,
    DeliveryError,
    EventLog,
    EventRejected,
    SinkStopped,
    start_reporters,
)
from edge.events.courier import Backoff, Courier
from edge.events.twitter import (
    MAX_CHARS,
    TwitterSink,
    XClient,
    XCredentials,
    digest_text,
    predator_text,
)
from tests.conftest import SHARED_DATA

UPLOAD = "https://api.x.com/2/media/upload"
TWEETS = "https://api.twitter.com/2/tweets"  # tweepy 4.17's host for create_tweet
PHOTO = SHARED_DATA / "images/predator/animl__Cat-21.jpg"
KEYS = {"twitter_consumer_key": "ck-123", "twitter_consumer_secret": "cs-456",
        "twitter_access_token": "at-789", "twitter_access_token_secret": "ats-000"}
START = datetime(2026, 5, 1, 12, 0).timestamp()


def _credentials() -> XCredentials:
    return XCredentials.from_secrets(lambda name: SecretStr(KEYS[name]))


class FakeTime:
    """The courier's clock and sleep: sleeping moves the clock; ``stop_after`` ends the run."""

    def __init__(self, stop: threading.Event, stop_when: object) -> None:
        self.now = START
        self.sleeps: list[float] = []
        self._stop = stop
        self._stop_when = stop_when

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self._stop_when() or len(self.sleeps) > 50:  # type: ignore[operator]
            self._stop.set()


@pytest.fixture()
def log(state_dir: Path) -> Iterator[EventLog]:
    with EventLog(state_dir / "events.sqlite3") as opened:
        yield opened


@pytest.fixture()
def x() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _predator(log: EventLog, state_dir: Path, i: int = 0, snapshot: bool = True) -> Event:
    event = Event(camera="coop", start_time=START + i, end_time=START + i + 1,
                  verdict="predator", label="fox", score=0.93, deterrents=["siren", "floodlight"])
    if snapshot:
        # START is months ago: keep the archive's age retention from deleting the snapshots.
        archive = Archive(state_dir / "archive", ArchiveConfig(min_free_mb=0, max_age_days=3650))
        event.snapshot = archive.save("coop", event.start_time, cv2.imread(str(PHOTO)), {}).snapshot
    log.append(event)
    return event


def _ok(x: responses.RequestsMock) -> None:
    x.post(UPLOAD, json={"data": {"id": "1146654567674912769", "media_key": "3_1146654567674912769",
                                  "size": 52000, "expires_after_secs": 86400}})
    x.post(TWEETS, status=201, json={"data": {"id": "1445880548472328192", "text": "..."}})


def _sink(log: EventLog, fake: FakeTime | None = None, **cfg: object) -> TwitterSink:
    sink = TwitterSink(TwitterConfig(enabled=True, **cfg), log,  # type: ignore[arg-type]
                       XClient(_credentials(), "https://api.x.com", 5.0),
                       clock=fake.clock if fake else (lambda: START))
    sink.open(lambda: None)
    return sink


def _run(sink: TwitterSink, log: EventLog, x: responses.RequestsMock, done: object) -> FakeTime:
    stop = threading.Event()
    fake = FakeTime(stop, done)
    sink._clock = fake.clock
    Courier(sink, log, stop, backoff=Backoff(1.0, 60.0), clock=fake.clock, sleep=fake.sleep).run()
    return fake


def _header(call: responses.Call, name: str) -> str:
    # requests-oauthlib leaves the headers it signed as bytes.
    value = call.request.headers[name]
    return value.decode("ascii") if isinstance(value, bytes) else value


def _verify_oauth(request: responses.Call) -> dict[str, str]:
    """Check the OAuth 1.0a header: our keys, HMAC-SHA1, and a signature that verifies."""
    req = request.request
    header = _header(request, "Authorization")
    params = {k: unquote(v) for k, v in parse_authorization_header(header)}
    assert params["oauth_consumer_key"] == "ck-123" and params["oauth_token"] == "at-789"
    assert params["oauth_signature_method"] == "HMAC-SHA1" and params["oauth_version"] == "1.0"
    url = urlsplit(req.url)
    signed = [(k, v) for k, v in params.items() if k != "oauth_signature"]
    signed += parse_qsl(url.query)  # the query is signed; a multipart or JSON body is not
    base = oauth_sig.signature_base_string(
        req.method, oauth_sig.base_string_uri(req.url), oauth_sig.normalize_parameters(signed))
    signer = OAuthClient("ck-123", client_secret="cs-456", resource_owner_secret="ats-000")
    assert oauth_sig.sign_hmac_sha1_with_client(base, signer) == params["oauth_signature"]
    return params


def test_a_predator_is_posted_with_its_snapshot(log: EventLog, state_dir: Path,
                                                x: responses.RequestsMock) -> None:
    _ok(x)
    sink = _sink(log)
    event = _predator(log, state_dir)
    sink.deliver(event)
    upload, post = x.calls
    assert upload.request.url == UPLOAD and post.request.url == TWEETS
    body = upload.request.body
    assert isinstance(body, bytes)
    assert _header(upload, "Content-Type").startswith("multipart/form-data; boundary=")
    assert b'name="media"; filename="snapshot.jpg"' in body
    assert b'name="media_category"\r\n\r\ntweet_image' in body
    assert Path(str(event.snapshot)).read_bytes() in body
    sent = post.request.body
    assert b'"media_ids": ["1146654567674912769"]' in sent
    assert b"fox" in sent and b"coop" in sent and b"siren, floodlight" in sent and b"93%" in sent
    nonces = {_verify_oauth(upload)["oauth_nonce"], _verify_oauth(post)["oauth_nonce"]}
    assert len(nonces) == 2


def test_chickens_wait_for_the_digest(log: EventLog, x: responses.RequestsMock) -> None:
    sink = _sink(log)
    sink.deliver(Event("coop", START, START, "chicken", "hen", 0.9))
    assert not x.calls


def test_on_429_it_waits_for_the_daily_reset_then_posts(log: EventLog, state_dir: Path,
                                                        x: responses.RequestsMock) -> None:
    sink = _sink(log)
    x.post(UPLOAD, json={"data": {"id": "1"}})
    x.post(TWEETS, status=429, json={"title": "Too Many Requests"}, headers={
        "x-rate-limit-limit": "100", "x-rate-limit-remaining": "98",
        "x-rate-limit-reset": str(int(START + 900)),
        "x-user-limit-24hour-limit": "17", "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(int(START + 5000))})
    x.post(TWEETS, status=201, json={"data": {"id": "2", "text": "t"}})
    event = _predator(log, state_dir)
    fake = _run(sink, log, x, lambda: log.cursor("twitter") == event.id)
    assert fake.sleeps[0] == pytest.approx(5001)  # the daily cap's reset, not the 15-min one
    assert [c.request.url for c in x.calls] == [UPLOAD, TWEETS, TWEETS]  # the photo went up once
    assert log.cursor("twitter") == event.id and log.sink_status()[0].healthy


def test_server_errors_back_off_exponentially(log: EventLog, state_dir: Path,
                                              x: responses.RequestsMock) -> None:
    sink = _sink(log)
    for status in (503, 500, 502):
        x.post(UPLOAD, status=status, body="busy")
    x.post(UPLOAD, json={"data": {"id": "7"}})
    x.post(TWEETS, status=201, json={"data": {"id": "8", "text": "t"}})
    event = _predator(log, state_dir)
    failing_seen: list[bool] = []
    fake = _run(sink, log, x, lambda: failing_seen.append(
        log.sink_status()[0].failing_since is not None) or log.cursor("twitter") == event.id)
    assert fake.sleeps[:3] == [1.0, 2.0, 4.0]
    assert failing_seen[0] and log.sink_status()[0].healthy


def test_401_stops_posting_and_says_so(log: EventLog, state_dir: Path,
                                       x: responses.RequestsMock) -> None:
    sink = _sink(log)
    x.post(UPLOAD, status=401, json={"title": "Unauthorized", "detail": "Unauthorized",
                                     "status": 401})
    _predator(log, state_dir, 0)
    _predator(log, state_dir, 1)
    _run(sink, log, x, lambda: False)  # returns by itself: the reporter stopped
    assert len(x.calls) == 1
    (status,) = log.sink_status()
    assert "HTTP 401" in str(status.stopped_reason) and status.cursor == 0 and status.backlog == 2


def test_402_no_credits_stops_and_duplicates_are_skipped(log: EventLog, state_dir: Path,
                                                         x: responses.RequestsMock) -> None:
    sink = _sink(log)
    event = _predator(log, state_dir, snapshot=False)
    x.post(TWEETS, status=403, json={"detail": "You are not allowed to create a Tweet with "
                                               "duplicate content.", "status": 403})
    with pytest.raises(EventRejected, match="duplicate"):
        sink.deliver(event)
    x.post(TWEETS, status=402, json={"title": "CreditsDepleted", "status": 402})
    with pytest.raises(SinkStopped, match="402"):
        sink.deliver(event)


def test_the_daily_allowance_holds_and_the_rest_goes_to_the_digest(
        log: EventLog, state_dir: Path, x: responses.RequestsMock) -> None:
    _ok(x)
    stop = threading.Event()
    fake = FakeTime(stop, lambda: False)
    sink = _sink(log, fake, daily_allowance=3, digest_time="20:00")
    for i in range(5):
        _deliver(sink, log, _predator(log, state_dir, i, snapshot=False))
        fake.now += 60
    chicken = Event("coop", fake.now, fake.now, "chicken", "hen", 0.8)
    log.append(chicken)
    _deliver(sink, log, chicken)
    assert len([c for c in x.calls if c.request.url == TWEETS]) == 3
    assert sink.posts_left() == 0
    sink.service()  # 20:00 is hours away
    fake.now = datetime(2026, 5, 1, 20, 1).timestamp()
    sink.service()  # due, but no post left for it (nor for a predator)
    assert len(x.calls) == 3
    fake.now = datetime(2026, 5, 2, 12, 5).timestamp()  # yesterday's posts left the window
    sink.service()
    digest = x.calls[-1].request.body
    assert len(x.calls) == 4 and b"3 event(s)" in digest and b"2 predator" in digest
    assert b"1 chicken" in digest and b"fox x2" in digest
    # State survives a restart: the digest is not repeated and the posts still count.
    again = _sink(log, fake, daily_allowance=3, digest_time="20:00")
    assert again.posts_left() == 2
    assert datetime.fromtimestamp(again.next_digest()) == datetime(2026, 5, 2, 20, 0)


def _deliver(sink: TwitterSink, log: EventLog, event: Event) -> None:
    # What the courier does: deliver, then move the sink's cursor.
    sink.deliver(event)
    assert event.id is not None
    log.advance(sink.name, event.id)


def test_post_text_is_short_and_useful() -> None:
    event = Event(camera="c" * 200, start_time=START, end_time=START, verdict="predator",
                  label="red fox " * 30, score=0.876, deterrents=[], id=42,
                  decision={"reason": "disarmed"})
    text = predator_text(event)
    assert len(text) <= MAX_CHARS and text.startswith("Predator at the henhouse: red fox")
    short = predator_text(Event("coop", START, START, "predator", "fox", 0.876,
                                deterrents=["siren"], id=7))
    assert "fox" in short and "coop" in short and "12:00:00" in short and "88%" in short
    assert "Fired: siren" in short and "event 7" in short
    assert datetime.fromtimestamp(START) + timedelta(0) == datetime(2026, 5, 1, 12, 0)


def test_missing_secrets_keep_twitter_off_and_visible(log: EventLog,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(f"TENSORCHICKEN_{name.upper()}", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = ReportersConfig.model_validate({"twitter": {"enabled": True}})
    running = start_reporters(cfg, log, threading.Event(), on_arm=lambda a, s: None,
                              armed=lambda: True)
    assert running.couriers == []
    (status,) = log.sink_status()
    assert status.stopped_reason == "secret twitter_consumer_key is not set: X posting is off"


def test_secrets_never_reach_the_logs(log: EventLog, state_dir: Path, x: responses.RequestsMock,
                                      monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(f"TENSORCHICKEN_{name.upper()}", value)
    _ok(x)
    x.post(UPLOAD, status=401, json={"title": "Unauthorized"})
    caplog.set_level(logging.DEBUG)
    cfg = ReportersConfig.model_validate({"twitter": {"enabled": True}})
    running = start_reporters(cfg, log, threading.Event(), on_arm=lambda a, s: None,
                              armed=lambda: True)
    try:
        for i in range(2):
            _predator(log, state_dir, i)
        assert _wait(lambda: log.sink_status()[0].stopped_reason is not None)
    finally:
        running.close()
    assert "HTTP 401" in caplog.text
    for value in KEYS.values():
        assert value not in caplog.text


def _wait(check: object, timeout: float = 20.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if check():  # type: ignore[operator]
            return True
        done.wait(0.05)
    return False


class _RefusingSink:
    """A sink whose far end refuses us as soon as we open it."""

    name = "refusing"

    def open(self, wake: object) -> None:
        raise SinkStopped("HTTP 401 at open")

    def close(self) -> None:
        self.closed = True


def test_a_sink_refused_at_open_stops_at_once(log: EventLog) -> None:
    sink = _RefusingSink()
    Courier(sink, log, threading.Event(), sleep=lambda s: pytest.fail("it retried")).run()  # type: ignore[arg-type]
    assert log.sink_status()[0].stopped_reason == "HTTP 401 at open" and sink.closed


def _daily_cap_429(x: responses.RequestsMock, reset: float) -> None:
    x.post(TWEETS, status=429, json={"title": "Too Many Requests"}, headers={
        "x-rate-limit-limit": "100", "x-rate-limit-remaining": "98",
        "x-rate-limit-reset": str(int(START + 900)),
        "x-user-limit-24hour-limit": "17", "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(int(reset))})


def test_a_429_wait_is_not_cut_short_by_new_events(log: EventLog, state_dir: Path,
                                                   x: responses.RequestsMock) -> None:
    # Real time and the courier's own wait: each new event wakes the courier.
    reset = int(time.time()) + 2  # whole seconds, as X sends it; the reporter adds one
    posted_at: list[float] = []

    def tweets(request: object) -> tuple[int, dict[str, str], str]:
        posted_at.append(time.time())
        if len(posted_at) == 1:
            return 429, {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0",
                         "x-rate-limit-reset": str(reset)}, '{"title": "Too Many Requests"}'
        return 201, {}, json.dumps({"data": {"id": str(len(posted_at)), "text": "t"}})

    x.add_callback(responses.POST, TWEETS, callback=tweets, content_type="application/json")
    sink = TwitterSink(TwitterConfig(enabled=True), log,
                       XClient(_credentials(), "https://api.x.com", 5.0))
    courier = Courier(sink, log, threading.Event(), poll_s=0.05)
    courier.start()
    try:
        first = _predator(log, state_dir, 0, snapshot=False)
        assert _wait(lambda: len(posted_at) >= 1)
        for i in range(1, 6):  # each one wakes the courier during the wait
            _predator(log, state_dir, i, snapshot=False)
            time.sleep(0.1)
        assert _wait(lambda: log.cursor("twitter") == first.id + 5)
    finally:
        courier.close()
    assert len(posted_at) == 7
    assert min(posted_at[1:]) >= reset + 1  # nothing before the reset X gave


def test_the_daily_cap_wait_survives_a_restart_and_says_what_it_waits_for(
        log: EventLog, state_dir: Path, x: responses.RequestsMock,
        caplog: pytest.LogCaptureFixture) -> None:
    reset = START + 85720
    x.post(UPLOAD, json={"data": {"id": "1"}})
    _daily_cap_429(x, reset)
    event = _predator(log, state_dir)
    with pytest.raises(DeliveryError) as refused:
        _sink(log).deliver(event)
    assert refused.value.retry_at == reset + 1
    calls = len(x.calls)
    # Restarted an hour later: the reset is remembered, X is not asked again until then.
    later = _sink(log)
    later._clock = lambda: START + 3600
    with pytest.raises(DeliveryError) as held:
        later.deliver(_predator(log, state_dir, 1, snapshot=False))
    assert held.value.retry_at == reset + 1 and len(x.calls) == calls
    x.post(TWEETS, status=201, json={"data": {"id": "2", "text": "t"}})
    caplog.set_level(logging.INFO)
    fake = _run(_sink(log), log, x, lambda: log.cursor("twitter") == event.id + 1)
    assert fake.sleeps[0] == pytest.approx(reset + 1 - START)
    assert len([c for c in x.calls if c.request.url == TWEETS]) == 3  # 429, then two posts
    waited = [r.getMessage() for r in caplog.records if "retrying at" in r.getMessage()]
    assert waited and "x-user-limit-24hour-reset" in waited[0] and "daily" in waited[0]
    assert datetime.fromtimestamp(reset + 1).strftime("%H:%M:%S") in waited[0]


def test_an_uploaded_photo_is_reused_while_x_keeps_it(log: EventLog, state_dir: Path,
                                                      x: responses.RequestsMock) -> None:
    answers = [503, 201, 503, 201]

    def tweets(request: object) -> tuple[int, dict[str, str], str]:
        status = answers.pop(0)
        return status, {}, json.dumps({"data": {"id": "2", "text": "t"}} if status == 201
                                      else {"title": "Service Unavailable"})

    x.add_callback(responses.POST, TWEETS, callback=tweets, content_type="application/json")
    x.post(UPLOAD, json={"data": {"id": "11", "expires_after_secs": 3600}})
    event = _predator(log, state_dir)
    sink = _sink(log)
    with pytest.raises(DeliveryError):
        sink.deliver(event)
    again = _sink(log)  # also after a restart
    again._clock = lambda: START + 600
    again.deliver(event)
    assert [c.request.url for c in x.calls] == [UPLOAD, TWEETS, TWEETS]
    assert b'"media_ids": ["11"]' in x.calls[-1].request.body
    # Past its expiry X has forgotten the photo: it goes up again.
    second = _predator(log, state_dir, 1)
    with pytest.raises(DeliveryError):
        again.deliver(second)
    again._clock = lambda: START + 600 + 3600
    again.deliver(second)
    assert [c.request.url for c in x.calls][3:] == [UPLOAD, TWEETS, UPLOAD, TWEETS]


def test_the_digest_counts_by_log_position_and_drops_nothing(log: EventLog,
                                                             x: responses.RequestsMock) -> None:
    x.post(TWEETS, status=201, json={"data": {"id": "9", "text": "t"}})
    stop = threading.Event()
    fake = FakeTime(stop, lambda: False)
    sink = _sink(log, fake, digest_time="20:00")
    courier = Courier(sink, log, stop, clock=fake.clock, sleep=fake.sleep)
    log.append(Event("coop", START + 60, START + 61, "chicken", "hen", 0.9))
    courier.step()
    fake.now = datetime(2026, 5, 1, 20, 0, 1).timestamp()
    courier.step()  # the digest of one chicken
    # An event that started before the digest but was written just after it.
    log.append(Event("coop", fake.now - 5, fake.now - 2, "chicken", "hen", 0.9))
    courier.step()
    fake.now = datetime(2026, 5, 2, 20, 0, 1).timestamp()
    courier.step()
    digests = [c.request.body for c in x.calls]
    assert len(digests) == 2 and all(b"1 event(s)" in d for d in digests)


def test_doctor_says_the_daily_allowance_is_spent_and_what_x_waits_for(
        log: EventLog, state_dir: Path, x: responses.RequestsMock, asset_store: object) -> None:
    from edge.config import parse_config
    from edge.doctor.checks import WARN, check_reporters

    _ok(x)
    sink = TwitterSink(TwitterConfig(enabled=True, daily_allowance=2), log,
                       XClient(_credentials(), "https://api.x.com", 5.0))
    sink.open(lambda: None)
    for i in range(3):
        _deliver(sink, log, _predator(log, state_dir, i, snapshot=False))
    config = parse_config({"paths": {"state_dir": str(state_dir)},
                           "reporters": {"twitter": {"enabled": True, "daily_allowance": 2}}})
    (found,) = check_reporters(config, asset_store)  # type: ignore[arg-type]
    assert found.status == WARN and "daily allowance of 2 post(s) is spent" in found.message
    assert "digest" in found.message
    # X's own daily cap: doctor names the reset it waits for.
    reset = time.time() + 7200
    x.remove(responses.POST, TWEETS)
    _daily_cap_429(x, reset)
    fresh = TwitterSink(TwitterConfig(enabled=True), log,
                        XClient(_credentials(), "https://api.x.com", 5.0))
    fresh.open(lambda: None)
    with pytest.raises(DeliveryError):
        fresh.deliver(_predator(log, state_dir, 9, snapshot=False))
    (found,) = check_reporters(config, asset_store)  # type: ignore[arg-type]
    assert found.status == WARN and "x-user-limit-24hour-reset" in found.message


def test_the_digest_says_what_each_deterrent_did_to_each_predator() -> None:
    def fired(label: str, result: str | None, *devices: str) -> Event:
        outcome = None if result is None else {"result": result}
        return Event("coop", 0.0, 0.0, "predator", label, 0.9, deterrents=list(devices),
                     outcome=outcome)

    day = [fired("red fox", "left", "siren", "floodlight"), fired("red fox", "returned", "siren"),
           fired("jay", "stayed", "siren"), fired("jay", None, "siren")]  # one undecided
    text = digest_text(day[:1], 0.0, 86400.0, day)
    assert ("Afterwards: floodlight on red fox: 1 left; siren on jay: 1 stayed; "
            "siren on red fox: 1 left, 1 returned.") in text
