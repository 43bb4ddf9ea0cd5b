"""Poll RSS / Atom feeds (RSSHub routes or any feed) and publish their entries (``lingting connect rss``).

Each feed has its own interval. Fetching uses conditional GET (If-None-Match / If-Modified-Since from the stored
ETag / Last-Modified; 304 = nothing new), in a small thread pool so one slow feed does not hold up the others.
A failing feed (refused, timeout, 4xx/5xx, not a feed) is retried with capped exponential backoff.

The position (what the checkpoint stores) is, per feed url, the validators and the ids of the entries already
published (bounded). Every yielded position is a fresh snapshot, so what ``run_source`` saves never includes an
entry it did not publish. Validators are only recorded after every entry of that response was yielded: a crash
mid-response re-fetches the whole document instead of getting a 304 and losing the rest.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError

from connectors.config import ConnectorsConfig, RssConfig, RssFeedConfig
from connectors.html_text import html_to_text
from connectors.polling import PollingSource
from connectors.source import ConnectorError, Emit, Idle, Invalid, Item, Launch
from schemas import Author, RawPost
from schemas.errors import ConfigError, validation_summary
from schemas.retry import retry_after_seconds

log = logging.getLogger("lingting.connect.rss")

#: Attempts per feed in ``--once`` mode before giving up on it (daemon mode retries forever).
ONCE_ATTEMPTS = 3
Position = dict[str, Any]

# RSSHub route prefix → platform. Other routes and plain feeds are "news" unless the feed sets ``platform:``.
ROUTE_PLATFORMS = {
    "weibo": "weibo",
    "zhihu": "zhihu",
    "bilibili": "bilibili",
    "douban": "douban",
    "xiaohongshu": "xiaohongshu",
    "douyin": "douyin",
    "toutiao": "toutiao",
    "kuaishou": "kuaishou",
}

# Route → the account it follows (author.id), per platform.
_ROUTE_AUTHOR = {
    "weibo": re.compile(r"^/weibo/user/(\d+)"),
    "bilibili": re.compile(r"^/bilibili/user/(?:dynamic|video|article)/(\d+)"),
    "zhihu": re.compile(r"^/zhihu/people/(?:activities|answers|posts|pins)/([\w-]+)"),
    "douban": re.compile(r"^/douban/people/([\w.-]+)/status"),
    "xiaohongshu": re.compile(r"^/xiaohongshu/user/(\w+)"),
}

# Entry link → the platform's own post id, so the key matches other connectors' posts of the same platform.
_NATIVE_ID = {
    "weibo": re.compile(r"(?:weibo\.com|weibo\.cn)/(?:\d+|status|detail)/([0-9A-Za-z]{8,20})(?:[/?#]|$)"),
    "zhihu": re.compile(r"zhihu\.com/(?:question/\d+/answer/(\d+)|p/(\d+)|pin/(\d+))"),
    "bilibili": re.compile(
        r"(?:bilibili\.com/video/(BV[0-9A-Za-z]{10}|av\d+)|t\.bilibili\.com/(\d+)"
        r"|bilibili\.com/opus/(\d+))"
    ),
    "douban": re.compile(r"douban\.com/(?:people/[^/]+/status|note|group/topic|status)/(\d+)"),
    "xiaohongshu": re.compile(r"xiaohongshu\.com/(?:explore|discovery/item|user/profile/\w+)/([0-9a-f]{24})"),
}

_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def weibo_mid(bid: str) -> str:
    """Weibo's base62 post id (``O5abcdEf`` in weibo.com/uid/O5abcdEf) → the numeric mid the API uses."""
    if bid.isdigit():
        return bid
    out = ""
    end = len(bid)
    while end > 0:
        start = max(0, end - 4)
        value = 0
        for ch in bid[start:end]:
            value = value * 62 + _BASE62.index(ch)
        out = (str(value).zfill(7) if start > 0 else str(value)) + out
        end = start
    return out


def route_platform(url: str, override: str | None = None) -> str:
    if override:
        return override
    first = urlsplit(url).path.strip("/").split("/", 1)[0].lower()
    return ROUTE_PLATFORMS.get(first, "news")


def route_author_id(url: str, platform: str) -> str | None:
    pattern = _ROUTE_AUTHOR.get(platform)
    match = pattern.match(urlsplit(url).path) if pattern else None
    return match.group(1) if match else None


def native_id(platform: str, link: str | None) -> str | None:
    pattern = _NATIVE_ID.get(platform)
    match = pattern.search(link) if pattern and link else None
    if not match:
        return None
    value = next(g for g in match.groups() if g)
    return weibo_mid(value) if platform == "weibo" else value


def _entry_body(entry: Any) -> str:
    for detail in [*(entry.get("content") or []), entry.get("summary_detail")]:
        if detail and detail.get("value"):
            value = detail["value"]
            return value.strip() if detail.get("type") == "text/plain" else html_to_text(value)
    return html_to_text(entry.get("summary") or "")


def entry_text(entry: Any) -> str:
    """The body; the title is put in front unless the body already starts with it (RSSHub Weibo titles are
    the start of the post)."""
    body = _entry_body(entry)
    title = html_to_text(entry.get("title") or "")
    stem = title.rstrip(".…").strip()
    if not stem or stem in body[: len(stem) + 40]:
        return body or title
    return f"{title}\n{body}" if body else title


def entry_key(entry: Any) -> str:
    """What identifies an entry in its feed: id/guid, else link, else title + date."""
    ident = entry.get("id") or entry.get("link")
    if ident:
        return str(ident)
    raw = f"{entry.get('title', '')}|{entry.get('published') or entry.get('updated') or ''}"
    return "sha1:" + hashlib.sha1(raw.encode()).hexdigest()


def _digest(text: str, n: int = 16) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError):
                continue
    return None


class FeedError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Fetched:
    status: int
    parsed: Any = None  # feedparser result; None on 304
    etag: str | None = None
    modified: str | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FeedStats:
    polls: int = 0
    not_modified: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    entries: int = 0  # new entries yielded (published unless run_source skipped them)
    last_error: str | None = None


@dataclass
class _FeedState:
    etag: str | None = None
    modified: str | None = None
    seen: list[str] = field(default_factory=list)
    seen_set: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> _FeedState:
        data = data or {}
        seen = [str(s) for s in data.get("seen") or []]
        return cls(etag=data.get("etag"), modified=data.get("modified"), seen=seen, seen_set=set(seen))

    def dump(self) -> dict[str, Any]:
        return {"etag": self.etag, "modified": self.modified, "seen": list(self.seen)}


@lru_cache(maxsize=1)
def _feed_metrics() -> tuple[Any, Any]:
    """Per-feed counters, in the default registry that ``serve_metrics`` (--metrics-port) exposes."""
    from prometheus_client import Counter

    polls = Counter("lingting_rss_polls", "RSS feed polls by result (ok, not_modified, error)", ["feed", "result"])
    return polls, Counter("lingting_rss_entries", "New RSS entries yielded for publishing", ["feed"])


class RssSource(PollingSource[Position]):
    """Every feed's new entries, forever (or one round with ``once``)."""

    name = "rss"

    def __init__(self, config: RssConfig, *, once: bool = False, stop: threading.Event | None = None) -> None:
        if not config.feeds:
            raise ConnectorError("no feeds: give --feed URL or list them under connectors.rss.feeds in the config")
        super().__init__(once=once, stop=stop)
        self.config = config
        self.feeds: list[RssFeedConfig] = list(config.feeds)
        self.stats: dict[str, FeedStats] = {f.url: FeedStats() for f in self.feeds}
        self.failed: set[str] = set()  # feeds given up on in --once mode
        self._m_polls, self._m_entries = _feed_metrics()

    @staticmethod
    def label(feed: RssFeedConfig) -> str:
        return f"'{feed.name}' ({feed.url})" if feed.name else feed.url

    # -- fetching (worker threads) ------------------------------------------------------------------------------

    def _fetch(self, client: Any, feed: RssFeedConfig, etag: str | None, modified: str | None) -> Fetched:
        import feedparser
        import httpx

        headers = {
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
        }
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        try:
            resp = client.get(feed.url, headers=headers)
        except httpx.TimeoutException:
            raise FeedError(f"no answer within {self.config.timeout:g} s (connectors.rss.timeout)") from None
        except httpx.HTTPError as err:
            raise FeedError(
                f"cannot connect: {type(err).__name__}: {err} — is the server (RSSHub instance) up and the url right?"
            ) from None
        if resp.status_code == 304:
            return Fetched(304, etag=etag, modified=modified)
        if resp.status_code >= 400:
            hint = {
                404: "the feed or RSSHub route does not exist (check the url)",
                403: "access denied (RSSHub may need cookies/keys for this route)",
                429: "rate limited by the server",
            }.get(resp.status_code, "server error")
            raise FeedError(
                f"HTTP {resp.status_code} {resp.reason_phrase}: {hint}",
                retry_after=retry_after_seconds(resp.headers.get("retry-after")),
            )
        parsed = feedparser.parse(
            resp.content,
            response_headers={
                "content-type": resp.headers.get("content-type", "application/xml"),
                "content-location": str(resp.url),
            },
        )
        if not parsed.get("version") and not parsed.entries:
            reason = parsed.get("bozo_exception") or "no <rss>/<feed> root element"
            raise FeedError(
                f"the response is not an RSS/Atom feed ({resp.headers.get('content-type', '?')}, "
                f"{str(reason)[:200]}); open the url in a browser to see what it returns"
            )
        if parsed.get("bozo"):
            log.debug(
                "rss feed %s is not well-formed (%s); parsed leniently", self.label(feed), parsed.get("bozo_exception")
            )
        return Fetched(
            resp.status_code, parsed, etag=resp.headers.get("etag"), modified=resp.headers.get("last-modified")
        )

    # -- turning entries into posts -----------------------------------------------------------------------------

    def to_post(self, feed: RssFeedConfig, entry: Any, parsed: Any, fetched_at: datetime) -> RawPost:
        platform = route_platform(feed.url, feed.platform)
        key = entry_key(entry)
        link = entry.get("link") or None
        ident = native_id(platform, link)
        if ident is None:  # a URL/URN id is global; a bare guid ("123") is only unique within its feed
            is_global = key.startswith(("http://", "https://", "tag:", "urn:"))
            ident = _digest(key if is_global else f"{feed.url}\n{key}", 20)
        name = entry.get("author") or (parsed.feed.get("title") if parsed else None) or feed.name
        author = Author(id=route_author_id(feed.url, platform), name=name or None)
        extra: dict[str, Any] = {"feed": feed.url}
        if entry.get("title"):
            extra["title"] = html_to_text(entry["title"])[:500]
        return RawPost(
            platform=platform,
            id=ident,
            text=entry_text(entry),
            created_at=entry_time(entry) or fetched_at,
            author=author,
            url=link,
            **extra,
        )

    def _entries(
        self, feed: RssFeedConfig, fetched: Fetched, state: _FeedState, snapshot: _Snapshot
    ) -> Iterator[Item[Position]]:
        entries = list(fetched.parsed.entries)
        current: list[str] = []
        for entry in reversed(entries):  # feeds list newest first; publish oldest first
            seen_id = _digest(entry_key(entry))
            current.append(seen_id)
            if seen_id in state.seen_set:
                continue
            try:
                post = self.to_post(feed, entry, fetched.parsed, fetched.fetched_at)
            except ValueError as err:  # kept on the dead-letter topic; the feed goes on
                error = validation_summary(err, top="entry") if isinstance(err, ValidationError) else str(err)
                log.error(
                    "rss feed %s: entry %r cannot be turned into a post (%s)",
                    self.label(feed),
                    entry_key(entry)[:200],
                    error[:300],
                )
                state.seen.append(seen_id)
                state.seen_set.add(seen_id)
                yield Invalid(
                    snapshot.update(feed.url, state),
                    error,
                    _entry_json(entry),
                    {"feed": feed.url, "entry": entry_key(entry)[:200]},
                )
                continue
            state.seen.append(seen_id)
            state.seen_set.add(seen_id)
            self.stats[feed.url].entries += 1
            self._m_entries.labels(feed.url).inc()
            yield Emit(post, snapshot.update(feed.url, state))
        # Whole response handled: keep the ids still in the feed plus the most recent others, then the validators.
        in_feed = set(current)
        keep = max(self.config.max_seen, len(in_feed))
        older = [s for s in state.seen if s not in in_feed]
        state.seen = (older + list(dict.fromkeys(current)))[-keep:]
        state.seen_set = set(state.seen)
        state.etag, state.modified = fetched.etag, fetched.modified

    # -- the scheduler ------------------------------------------------------------------------------------------

    def _delay_after_failure(self, stats: FeedStats, error: FeedError) -> float:
        return self.retry_delay(
            stats.consecutive_failures,
            initial=self.config.retry_backoff,
            cap=self.config.max_backoff,
            retry_after=error.retry_after,
        )

    def items(self, resume: Position | None) -> Iterator[Item[Position]]:
        import httpx

        saved = (resume or {}).get("feeds", {}) if isinstance(resume, dict) else {}
        states = {url: _FeedState.load(data) for url, data in saved.items()}
        for feed in self.feeds:
            states.setdefault(feed.url, _FeedState())
        snapshot = _Snapshot({url: s.dump() for url, s in states.items()})
        due = {feed.url: 0.0 for feed in self.feeds}
        pending = {feed.url for feed in self.feeds}  # --once: feeds not finished yet
        inflight: dict[Future, RssFeedConfig] = {}
        client = httpx.Client(
            timeout=self.config.timeout, follow_redirects=True, headers={"User-Agent": self.config.user_agent}
        )
        pool = ThreadPoolExecutor(max_workers=min(8, len(self.feeds)), thread_name_prefix="rss-fetch")
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                busy = {f.url for f in inflight.values()}
                for feed in self.feeds:
                    if feed.url not in busy and due[feed.url] <= now and (not self.once or feed.url in pending):
                        state = states[feed.url]
                        inflight[pool.submit(self._fetch, client, feed, state.etag, state.modified)] = feed
                if self.once and not pending:
                    return
                busy = {f.url for f in inflight.values()}
                next_due = min(
                    (due[f.url] for f in self.feeds if f.url not in busy and (not self.once or f.url in pending)),
                    default=now + self.HEARTBEAT_SECONDS,
                )
                timeout = max(0.0, min(self.HEARTBEAT_SECONDS, next_due - now))
                done, _ = wait(list(inflight), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    feed = inflight.pop(future)
                    yield from self._handle(feed, future, states[feed.url], snapshot, due, pending)
                yield Idle(snapshot.position)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            client.close()

    def _handle(
        self,
        feed: RssFeedConfig,
        future: Future,
        state: _FeedState,
        snapshot: _Snapshot,
        due: dict[str, float],
        pending: set[str],
    ) -> Iterator[Item[Position]]:
        stats = self.stats[feed.url]
        stats.polls += 1
        try:
            fetched = future.result()
        except FeedError as err:
            stats.failures += 1
            stats.consecutive_failures += 1
            stats.last_error = str(err)
            self._m_polls.labels(feed.url, "error").inc()
            self.metrics.source_error()
            delay = self._delay_after_failure(stats, err)
            if self.once and stats.consecutive_failures >= ONCE_ATTEMPTS:
                log.error(
                    "rss feed %s failed %d times, giving up for this run: %s",
                    self.label(feed),
                    stats.consecutive_failures,
                    err,
                )
                pending.discard(feed.url)
                self.failed.add(feed.url)
            else:
                log.warning(
                    "rss feed %s failed (%s; %d in a row); retrying in %.1f s, the other feeds go on",
                    self.label(feed),
                    err,
                    stats.consecutive_failures,
                    delay,
                )
            due[feed.url] = time.monotonic() + delay
            return
        except Exception as err:  # a bug or an unexpected parser error: keep the other feeds running
            stats.failures += 1
            stats.consecutive_failures += 1
            stats.last_error = f"{type(err).__name__}: {err}"
            self._m_polls.labels(feed.url, "error").inc()
            self.metrics.source_error()
            log.exception("rss feed %s: unexpected error; retrying later", self.label(feed))
            due[feed.url] = time.monotonic() + self._delay_after_failure(stats, FeedError(str(err)))
            if self.once and stats.consecutive_failures >= ONCE_ATTEMPTS:
                pending.discard(feed.url)
                self.failed.add(feed.url)
            return
        if stats.consecutive_failures:
            log.info("rss feed %s is back after %d failed polls", self.label(feed), stats.consecutive_failures)
        stats.consecutive_failures = 0
        if fetched.status == 304:
            stats.not_modified += 1
            self._m_polls.labels(feed.url, "not_modified").inc()
        else:
            self._m_polls.labels(feed.url, "ok").inc()
            before = stats.entries
            yield from self._entries(feed, fetched, state, snapshot)
            snapshot.update(feed.url, state)
            log.info(
                "rss feed %s: %d entries, %d new", self.label(feed), len(fetched.parsed.entries), stats.entries - before
            )
        due[feed.url] = time.monotonic() + feed.interval
        pending.discard(feed.url)


def _entry_json(entry: Any) -> bytes:
    """The entry as feedparser read it, for the dead-letter topic (dates as text)."""
    return json.dumps(entry, ensure_ascii=False, default=str).encode()


class _Snapshot:
    """The current position as an immutable-by-convention dict: each update builds a new top-level dict and a
    new dict for the changed feed, sharing the others (cheap with many feeds)."""

    def __init__(self, feeds: dict[str, dict[str, Any]]) -> None:
        self.position: dict[str, Any] = {"v": 1, "feeds": feeds}

    def update(self, url: str, state: _FeedState) -> dict[str, Any]:
        self.position = {"v": 1, "feeds": {**self.position["feeds"], url: state.dump()}}
        return self.position


def command(
    connectors: ConnectorsConfig,
    stop: threading.Event,
    config_path: Path | None,
    feed: list[str] | None = typer.Option(
        None,
        "--feed",
        help="Feed url (repeatable), added to connectors.rss.feeds, e.g. https://rsshub.app/weibo/user/1195230310",
    ),
    interval: float | None = typer.Option(
        None, help="Seconds between polls of the --feed feeds (min 10, default 300); config feeds keep their own."
    ),
    once: bool = typer.Option(
        False, "--once", help="Poll each feed once and exit (cron, tests); exit 1 if a feed still failed after retries."
    ),
) -> Launch:
    """Poll RSS/Atom feeds (RSSHub routes or any feed) and publish new entries, keyed platform:id. Conditional
    GET (ETag/Last-Modified), per-feed interval, retries with backoff; restartable without sending an entry twice.
    With --metrics-port, per-feed lingting_rss_polls / lingting_rss_entries too."""
    cfg = connectors.rss
    try:
        extra = [
            RssFeedConfig(url=url, **({"interval": interval} if interval is not None else {}))
            for url in feed or []
            if url not in {f.url for f in cfg.feeds}
        ]
    except ValidationError as err:
        raise ConfigError(f"invalid --feed/--interval: {validation_summary(err)}") from None
    cfg = cfg.model_copy(update={"feeds": [*cfg.feeds, *extra]})
    source = RssSource(cfg, once=once, stop=stop)  # checks the feeds before waiting for Kafka

    def finish() -> int:
        for url, stats in source.stats.items():
            typer.echo(
                json.dumps(
                    {
                        "feed": url,
                        "polls": stats.polls,
                        "not_modified": stats.not_modified,
                        "failures": stats.failures,
                        "new_entries": stats.entries,
                        "last_error": stats.last_error,
                    },
                    ensure_ascii=False,
                ),
                err=True,
            )
        if source.failed:
            typer.secho(
                f"error: feeds still failing after retries (see the log above for why): "
                f"{', '.join(sorted(source.failed))}",
                fg=typer.colors.RED,
                err=True,
            )
            return 1
        return 0

    ident = str(config_path.resolve()) if config_path and not feed else "|".join(sorted(f.url for f in cfg.feeds))
    return Launch(source, ident=ident, finish=finish)
