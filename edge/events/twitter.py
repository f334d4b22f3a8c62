"""X (Twitter) reporter: a post with the snapshot per predator, a daily digest of the rest.

The snapshot goes up through X's v2 media endpoint (``POST /2/media/upload``, multipart
``media`` + ``media_category=tweet_image``), signed with the account's OAuth 1.0a user keys
(multipart fields are not part of the signature); tweepy 4.17 only wraps the retired v1.1
upload. The post itself is tweepy's ``Client.create_tweet(text=..., media_ids=[id])``.

Posting stays within ``daily_allowance`` posts per rolling 24 h, predators first: the digest
leaves the last post of the allowance to predators. The posting history lives in the event
log (the sink's state), so a restart does not reset it. How X answers decides what happens:

* 429: wait until the reset time X gives (``x-user-limit-24hour-reset`` when the daily user
  cap is spent, else ``x-rate-limit-reset``), then try the same event again;
* 5xx, timeouts, no network: back off and retry;
* 401, 402 (no credits), 403 (other than a duplicate): stop posting, say so in ``doctor``;
* 403 duplicate, other 4xx: skip that one post.

The four keys come from secrets (``twitter_consumer_key``, ``twitter_consumer_secret``,
``twitter_access_token``, ``twitter_access_token_secret``) and are never logged.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import tweepy
from pydantic import SecretStr
from requests_oauthlib import OAuth1

from edge.config.reporters import TwitterConfig
from edge.event import Event
from edge.events.errors import DeliveryError, EventRejected, SinkStopped
from edge.events.log import EventLog

logger = logging.getLogger(__name__)
# requests-oauthlib logs the signed Authorization header (consumer key, access token) at DEBUG:
# keep those two loggers above DEBUG so that --verbose never writes a key to the journal.
for _name in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_name).setLevel(logging.INFO)

MAX_CHARS = 280
DAY_S = 86400.0
SECRET_NAMES = ("twitter_consumer_key", "twitter_consumer_secret", "twitter_access_token",
                "twitter_access_token_secret")
_KEEP_POSTED = 200


@dataclass(frozen=True, slots=True)
class XCredentials:
    """The four OAuth 1.0a user-context keys; their repr shows nothing."""

    consumer_key: SecretStr
    consumer_secret: SecretStr
    access_token: SecretStr
    access_token_secret: SecretStr

    @classmethod
    def from_secrets(cls, read: Callable[[str], SecretStr | None]) -> XCredentials:
        """Read the keys with ``read(name)``; SinkStopped names the first one missing."""
        values: list[SecretStr] = []
        for name in SECRET_NAMES:
            value = read(name)
            if value is None or not value.get_secret_value():
                raise SinkStopped(f"secret {name} is not set: X posting is off")
            values.append(value)
        return cls(*values)

    def oauth1(self) -> OAuth1:
        """A requests auth that signs each request (HMAC-SHA1)."""
        return OAuth1(self.consumer_key.get_secret_value(),
                      client_secret=self.consumer_secret.get_secret_value(),
                      resource_owner_key=self.access_token.get_secret_value(),
                      resource_owner_secret=self.access_token_secret.get_secret_value())


class _TimeoutSession(requests.Session):
    # tweepy passes no timeout: a stalled connection would hold the reporter for ever.
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def _reset_time(headers: Any) -> float | None:
    # X sends several windows; the one that is spent (remaining 0) says when to come back.
    spent, any_reset = [], []
    for window in ("x-user-limit-24hour", "x-app-limit-24hour", "x-rate-limit"):
        reset = headers.get(f"{window}-reset")
        if reset is None or not str(reset).strip().isdigit():
            continue
        any_reset.append(float(reset))
        if str(headers.get(f"{window}-remaining", "")).strip() == "0":
            spent.append(float(reset))
    found = spent or any_reset
    return max(found) + 1.0 if found else None


def raise_for_x(response: requests.Response, what: str) -> None:
    """Map X's answer to the reporter's errors; return quietly on 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = _detail(response)
    message = f"{what}: HTTP {status} {detail}".strip()
    if status == 429:
        raise DeliveryError(message, retry_at=_reset_time(response.headers))
    if status >= 500:
        raise DeliveryError(message)
    if status == 403 and "duplicate" in detail.lower():
        raise EventRejected(message)
    if status in (401, 402, 403):
        raise SinkStopped(message)
    raise EventRejected(message)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors") or [body]
        parts = [str(e.get("detail") or e.get("message") or e.get("title") or "")
                 for e in errors if isinstance(e, dict)]
        return "; ".join(p for p in parts if p)[:200]
    return str(body)[:200]


class XClient:
    """The two X calls we make: a v2 media upload and a post (through tweepy)."""

    def __init__(self, credentials: XCredentials, api_base: str, timeout_s: float) -> None:
        self._auth = credentials.oauth1()
        self._upload_url = f"{api_base.rstrip('/')}/2/media/upload"
        self._session = _TimeoutSession(timeout_s)
        self._tweepy = tweepy.Client(
            consumer_key=credentials.consumer_key.get_secret_value(),
            consumer_secret=credentials.consumer_secret.get_secret_value(),
            access_token=credentials.access_token.get_secret_value(),
            access_token_secret=credentials.access_token_secret.get_secret_value())
        self._tweepy.session = _TimeoutSession(timeout_s)

    def upload_image(self, jpeg: bytes) -> str:
        """Upload a JPEG; returns its media id."""
        try:
            response = self._session.post(
                self._upload_url, auth=self._auth,
                files={"media": ("snapshot.jpg", jpeg, "image/jpeg")},
                data={"media_category": "tweet_image", "media_type": "image/jpeg"})
        except requests.RequestException as exc:
            raise DeliveryError(f"media upload: {type(exc).__name__}") from exc
        raise_for_x(response, "media upload")
        try:
            return str(response.json()["data"]["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"media upload: unexpected answer {response.text[:200]!r}") from exc

    def post(self, text: str, media_ids: list[str] | None = None) -> str:
        """Create a post; returns its id."""
        try:
            result = self._tweepy.create_tweet(text=text, media_ids=media_ids or None)
        except tweepy.HTTPException as exc:
            raise_for_x(exc.response, "post")
            raise DeliveryError(f"post: {exc}") from exc
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise DeliveryError(f"post: {type(exc).__name__}: {exc}") from exc
        return str(result.data["id"])


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S, %d %b %Y")


def predator_text(event: Event) -> str:
    """What, where, when, what was done, how sure: at most 280 characters."""
    did = ("Fired: " + ", ".join(event.deterrents)) if event.deterrents else (
        "No deterrent fired" + (f" ({event.decision['reason']})"
                                if event.decision.get("reason") else ""))
    text = (f"Predator at the henhouse: {event.label} on camera {event.camera} at "
            f"{_when(event.start_time)}. {did}. Confidence {event.score:.0%}. "
            f"#TensorChicken event {event.id}")
    return _fit(text)


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"


def digest_text(events: list[Event], since: float, until: float) -> str:
    """The day's events not posted one by one, counted by verdict and label."""
    verdicts = Counter(e.verdict for e in events)
    labels = Counter(e.label for e in events if e.verdict == "predator")
    fired = sum(1 for e in events if e.deterrents)
    parts = [f"{n} {v}" for v, n in verdicts.most_common()]
    text = (f"TensorChicken digest, {_when(since)} to {_when(until)}: {len(events)} event(s): "
            f"{', '.join(parts)}.")
    if labels:
        names = ", ".join(f"{k} x{n}" for k, n in labels.most_common())
        text += f" Predators not posted: {names}."
    if fired:
        text += f" Deterrents fired {fired} time(s)."
    return _fit(text)


class TwitterSink:
    """Posts predators as they come and a digest once a day, within the allowance."""

    name = "twitter"

    def __init__(self, cfg: TwitterConfig, log: EventLog, client: XClient, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.log = log
        self.client = client
        self._clock = clock
        self._state: dict[str, Any] = {}

    def open(self, wake: Callable[[], None]) -> None:
        """Load the posting history; a first run starts its digest day now."""
        self._state = self.log.sink_state(self.name)
        self._state.setdefault("posts", [])
        self._state.setdefault("posted_ids", [])
        self._state.setdefault("last_digest", self._clock())
        self._save()

    def _save(self) -> None:
        self.log.set_sink_state(self.name, self._state)

    def posts_left(self) -> int:
        """Posts still allowed in the rolling 24 h window."""
        now = self._clock()
        self._state["posts"] = [t for t in self._state["posts"] if now - t < DAY_S]
        return self.cfg.daily_allowance - len(self._state["posts"])

    def _posted(self, event_id: int | None) -> None:
        self._state["posts"].append(self._clock())
        if event_id is not None:
            self._state["posted_ids"] = [*self._state["posted_ids"], event_id][-_KEEP_POSTED:]
        self._save()

    def deliver(self, event: Event) -> None:
        """Post a predator with its snapshot; everything else waits for the digest."""
        if event.verdict != "predator":
            return
        if self.posts_left() <= 0:
            logger.warning("twitter: daily allowance (%d) spent; predator event %s goes to the "
                           "digest", self.cfg.daily_allowance, event.id)
            return
        media = self._upload_snapshot(event)
        post_id = self.client.post(predator_text(event), [media] if media else None)
        logger.info("twitter: posted predator event %s as %s", event.id, post_id)
        self._posted(event.id)

    def _upload_snapshot(self, event: Event) -> str | None:
        if not event.snapshot:
            return None
        try:
            jpeg = Path(event.snapshot).read_bytes()
        except OSError as exc:
            logger.info("twitter: event %s posted without its snapshot: %s", event.id, exc.strerror)
            return None
        return self.client.upload_image(jpeg)

    def next_digest(self) -> float:
        """When the next digest is due (Unix seconds): the first digest_time after the last."""
        hour, minute = (int(x) for x in self.cfg.digest_time.split(":"))
        last = datetime.fromtimestamp(self._state["last_digest"])
        due = last.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due <= last:
            due += timedelta(days=1)
        return due.timestamp()

    def service(self) -> None:
        """Post the digest when it is due and the allowance leaves room for predators."""
        if not self.cfg.digest or self._clock() < self.next_digest():
            return
        keep_for_predators = 1 if self.cfg.daily_allowance > 1 else 0
        if self.posts_left() <= keep_for_predators:
            return  # tried again at each pass until the window frees a post
        since, until = self._state["last_digest"], self._clock()
        posted = set(self._state["posted_ids"])
        rest = [e for e in self.log.list(since=since)
                if e.id not in posted and e.start_time < until]
        if rest:
            self.client.post(digest_text(rest, since, until))
            logger.info("twitter: posted the digest of %d event(s)", len(rest))
            self._posted(None)
        self._state["last_digest"] = until
        self._save()

    def close(self) -> None:
        """Nothing held open between requests."""
