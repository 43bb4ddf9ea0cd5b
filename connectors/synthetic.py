"""A realistic synthetic stream (``lingting connect synthetic``) for demos, tests and benchmarks.

Chinese posts built from real review sentences (shipped in ``connectors/resources/reviews.tsv``) plus brand
names, Weibo habits (hashtags, emoticon codes, repost chains ``//@user:``), authors with heavy-tailed follower
counts, a daily rhythm, and a scenario file that injects crises, campaigns and outages at given minutes.
Everything is generated in event time, so a day of history takes seconds; ``--seed`` makes it reproducible.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, ValidationError

from connectors.source import ConnectorError, Emit, Item, Launch, Source
from schemas import RawPost
from schemas.errors import validation_summary
from schemas.settings import AtLeastOne

EMOTICONS_POS = ["[赞]", "[哈哈]", "[爱你]", "😋", "👍", "[鼓掌]"]
EMOTICONS_NEG = ["[怒]", "[泪]", "[失望]", "😡", "[吐]", "[抓狂]"]
FRAMES = ["{b}{s}", "在{b}，{s}", "#{b}# {s}", "{s} 说的就是{b}", "今天的{b}：{s}", "{b}，{s}"]
FRAMES_NAMED = ["{s}", "#{b}# {s}"]  # for sentences that already name the brand (no 海底捞海底捞…)
Domain = Literal["any", "food", "hotel"]


class BrandLoad(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    per_minute: NonNegativeFloat = Field(default=10.0, description="Average mentions per minute (daily mean).")
    negative_share: float = Field(default=0.15, ge=0, le=1)
    domain: Domain = Field(
        default="any",
        description="Which review sentences its everyday posts use: food "
        "(restaurants, delivery, drinks), hotel, or any.",
    )


class ScenarioEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["crisis", "campaign", "outage"]
    brand: str | None = None
    start_minute: NonNegativeInt
    duration_minutes: AtLeastOne
    peak_per_minute: NonNegativeFloat = Field(default=30.0, description="Extra mentions per minute at the peak.")
    shape: Literal["sudden", "slow", "viral"] = "sudden"
    texts: list[str] = Field(default_factory=list, description="Topic sentences; {b} is the brand.")
    hashtag: str | None = None


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: AtLeastOne = Field(default=240, description="Length of the history in minutes.")
    platform: str = "weibo"
    authors: int = Field(default=3000, ge=10)
    repost_share: float = Field(default=0.1, ge=0, le=1)
    brands: list[BrandLoad]
    events: list[ScenarioEvent] = Field(default_factory=list)


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return Scenario.model_validate(data)
    except OSError as err:
        raise ConnectorError(f"cannot read scenario {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConnectorError(f"scenario {path} is not valid YAML: {err}") from None
    except ValidationError as err:
        raise ConnectorError(f"invalid scenario {path}: {validation_summary(err, limit=None)}") from None


def load_sentences(domain: Domain = "any") -> dict[str, list[str]]:
    """Review sentences by label ("pos", "neg"), of one domain or all (``label<TAB>domain<TAB>sentence`` lines)."""
    pools: dict[str, list[str]] = {"pos": [], "neg": []}
    text = resources.files("connectors.resources").joinpath("reviews.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        label, kind, sentence = line.split("\t", 2)
        if sentence and domain in ("any", kind):
            pools[label].append(sentence)
    return pools


def daily_rhythm(when: datetime) -> float:
    """Relative activity by hour of day in China (UTC+8): quiet at 4 a.m., busy in the evening."""
    hour = when.astimezone(timezone(timedelta(hours=8))).hour + when.minute / 60.0
    return 1.0 + 0.6 * math.sin((hour - 10.0) / 24.0 * 2 * math.pi)


def poisson(rnd: random.Random, lam: float) -> int:
    """A Poisson draw (normal approximation above 60) from ``rnd``, so streams stay reproducible by seed."""
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, round(rnd.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def _intensity(event: ScenarioEvent, minute: int) -> float:
    """0..1: how far into its peak the event is at ``minute``."""
    t = (minute - event.start_minute) / event.duration_minutes
    if not 0 <= t < 1:
        return 0.0
    if event.shape == "sudden":
        return 1.0 if t < 0.7 else (1 - t) / 0.3
    if event.shape == "slow":
        return min(1.0, t / 0.6)
    return min(1.0, 2 ** (10 * t - 7))  # viral: doubles every tenth of the event


@dataclass
class _Author:
    id: str
    name: str
    followers: int
    verified: bool


class SyntheticSource(Source[dict[str, Any]]):
    """The position is the stream's start and the number of posts done: a restart continues the same stream."""

    name = "synthetic"

    def __init__(
        self, scenario: Scenario, *, seed: int = 7, start: datetime | None = None, speed: float | None = None
    ) -> None:
        """``speed``: event time runs this many times faster than the wall clock (None: as fast as possible)."""
        self.scenario = scenario
        self.speed = speed
        self.seed = seed
        self.start = start or (datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=scenario.minutes))
        self.sentences = {domain: load_sentences(domain) for domain in ("any", "food", "hotel")}
        self.domains = {load.name: load.domain for load in scenario.brands}

    def items(self, resume: dict[str, Any] | None) -> Iterator[Item[dict[str, Any]]]:
        start = datetime.fromisoformat(resume["start"]) if resume else self.start
        done = int(resume["n"]) if resume else 0
        first_event, first_wall = None, time.monotonic()
        for n, data in enumerate(self.generate(start), start=1):
            if n <= done:
                continue
            post = RawPost.model_validate(data)
            if self.speed:
                first_event = first_event or post.created_at
                due = first_wall + (post.created_at - first_event).total_seconds() / self.speed
                if (delay := due - time.monotonic()) > 0:
                    time.sleep(delay)
            yield Emit(post, {"start": start.isoformat(), "n": n})

    def generate(self, start: datetime) -> Iterator[dict[str, Any]]:
        """Posts in event-time order (within each minute), deterministic for (scenario, seed, start)."""
        sc, rnd = self.scenario, random.Random(self.seed)
        authors = [
            _Author(f"u{i}", f"用户{i:04d}", int(min(5e7, rnd.paretovariate(1.1) * 80)), rnd.random() < 0.03)
            for i in range(sc.authors)
        ]
        influencers = sorted(authors, key=lambda a: -a.followers)[:20]
        recent: list[dict[str, Any]] = []
        seq = 0
        for minute in range(sc.minutes):
            at = start + timedelta(minutes=minute)
            if any(e.type == "outage" and _intensity(e, minute) > 0 for e in sc.events):
                continue
            batch: list[dict[str, Any]] = []
            for load in sc.brands:
                for _ in range(poisson(rnd, load.per_minute * daily_rhythm(at))):
                    batch.append(self._post(rnd, load.name, rnd.random() < load.negative_share, at, authors))
            for event in sc.events:
                level = _intensity(event, minute)
                if event.type == "outage" or not level or not event.brand:
                    continue
                for _ in range(poisson(rnd, event.peak_per_minute * level)):
                    author = rnd.choice(influencers) if rnd.random() < 0.05 else rnd.choice(authors)
                    post = self._post(rnd, event.brand, event.type == "crisis", at, authors, event=event, author=author)
                    batch.append(post)
            batch.sort(key=lambda p: p["created_at"])
            for post in batch:
                seq += 1
                post["id"] = f"syn{self.seed}-{seq}"
                post["url"] = f"https://weibo.com/{post['author']['id']}/{post['id']}"
                if recent and rnd.random() < sc.repost_share:
                    original = rnd.choice(recent)
                    post["repost_of"] = f"{original['platform']}:{original['id']}"
                    post["text"] = (
                        rnd.choice(["转发", "太真实了", "关注一下", "这个要看看", ""])
                        + f"//@{original['author']['name']}:{original['text']}"
                    )[:2000]
                    original["metrics"]["reposts"] += 1
                recent.append(post)
                if len(recent) > 200:
                    recent.pop(0)
                yield post

    def _post(
        self,
        rnd: random.Random,
        brand: str,
        negative: bool,
        at: datetime,
        authors: list[_Author],
        event: ScenarioEvent | None = None,
        author: _Author | None = None,
    ) -> dict[str, Any]:
        pools = self.sentences[self.domains.get(brand, "any")]
        sentence = rnd.choice(pools["neg" if negative else "pos"])
        if event and event.texts and rnd.random() < 0.6:
            sentence = rnd.choice(event.texts)
        sentence = sentence.replace("{b}", brand)
        text = rnd.choice(FRAMES_NAMED if brand in sentence else FRAMES).format(b=brand, s=sentence)
        if event and event.hashtag and rnd.random() < 0.5:
            text = f"#{event.hashtag}# {text}"
        if rnd.random() < 0.4:
            text += rnd.choice(EMOTICONS_NEG if negative else EMOTICONS_POS)
        a = author or rnd.choice(authors)
        created = at + timedelta(seconds=rnd.randint(0, 59), milliseconds=rnd.randint(0, 999))
        return {
            "platform": self.scenario.platform,
            "id": "",
            "text": text,
            "created_at": created.isoformat(),
            "author": {"id": a.id, "name": a.name, "followers": a.followers, "verified": a.verified},
            "metrics": {"reposts": 0, "comments": rnd.randint(0, 30), "likes": rnd.randint(0, 200)},
        }


def command(
    scenario: Path = typer.Option(..., "--scenario", "-s", help="Scenario YAML (see deploy/demo/)."),
    seed: int = typer.Option(7, help="Same seed + scenario + start = the same posts."),
    start: datetime | None = typer.Option(None, help="Event time of the first minute (default: the history ends now)."),
    speed: str = typer.Option(
        "max",
        help="'max' (as fast as Kafka takes it) or an event-time multiplier, e.g. 60 = one hour of history per minute.",
    ),
    out: Path | None = typer.Option(None, help="Write JSONL here instead of publishing to Kafka."),
) -> Launch | None:
    """Publish a realistic synthetic Chinese stream with injected crises, campaigns and outages."""
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    source = SyntheticSource(
        load_scenario(scenario), seed=seed, start=start, speed=None if speed == "max" else float(speed)
    )
    if out is not None:
        count = 0
        with open(out, "w", encoding="utf-8") as fh:
            for item in source.items(None):
                if isinstance(item, Emit):
                    fh.write(item.post.model_dump_json(exclude_unset=True) + "\n")
                    count += 1
        typer.echo(f"wrote {count} posts to {out}", err=True)
        return None
    ident = f"{scenario.resolve()}|{seed}|{start.isoformat() if start else 'now'}"
    return Launch(source, ident=ident, fresh=start is None)  # "ending now" is a new stream on every run
