"""Labelled mention streams for the crisis detector (used by ``bench/detection.py`` and the tests).

A ``Scenario`` is one brand over a span of windows: a daily (and weekly) rhythm, overdispersed noise (a
gamma-Poisson mix), optional slow growth, and events:

- ``sudden`` / ``slow`` / ``viral`` crises (labelled 1): extra negative posts, each an author's own words
  (distinct texts), with a few neutral ones; sudden = jump then decay, slow = linear ramp over the whole
  span, viral = one negative post doubling every few windows plus people writing about it;
- ``campaign``: a marketing push — extra positive posts (templated hashtags), negative share falls;
- ``outage``: the source delivers nothing;
- ``storm``: one harmless post reposted thousands of times;
- ``shuijun``: near-identical negative posts from many young, low-follower accounts (水军).
Only crises are labelled; the others must not open a crisis (a 水军 alert is acceptable only if it is flagged
as coordinated).

``posts()`` renders posts as ``EnrichedPost`` (tokens and sentiment set by the generator, as the enricher would),
``counts()`` renders the same scenario as counts per window (for the backtest), deterministically per seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.synthetic import poisson
from schemas.posts import Author, EnrichedPost, Metrics, Sentiment

CRISIS_KINDS = ("sudden", "slow", "viral")
START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday, 08:00 in China

CALM_WORDS = [
    ["今天", "和", "朋友", "去", "{b}"],
    ["服务", "很", "好"],
    ["上菜", "也", "快"],
    ["味道", "正常"],
    ["排队", "半小时"],
    ["新品", "还", "不错"],
    ["推荐", "大家", "试试"],
    ["价格", "合理"],
    ["打卡", "成功"],
    ["下次", "还来"],
    ["有点", "贵"],
    ["环境", "干净"],
    ["周末", "人", "多"],
    ["活动", "划算"],
    ["会员", "积分"],
    ["外卖", "送得", "快"],
    ["门店", "装修", "好看"],
]
CRISIS_WORDS = {
    "food": [
        ["后厨", "有", "老鼠"],
        ["视频", "都", "拍到", "了"],
        ["太", "恶心", "了"],
        ["再也", "不去", "了"],
        ["卫生", "太差"],
        ["食品安全", "谁", "来", "管"],
        ["必须", "给", "个", "说法"],
        ["门店", "还", "不", "承认"],
        ["失望", "透顶"],
        ["已经", "投诉", "到", "12315"],
        ["吃", "完", "拉肚子"],
        ["涉事", "门店", "停业"],
    ],
    "car": [
        ["4S店", "漏油"],
        ["维权", "无门"],
        ["坐在", "引擎盖", "上"],
        ["新车", "没", "开", "就", "漏油"],
        ["退一赔三"],
        ["客服", "踢皮球"],
        ["太", "欺负", "人", "了"],
        ["金融", "服务费"],
        ["质量", "问题"],
        ["消费者", "权益"],
        ["必须", "严查"],
        ["再也", "不", "买", "了"],
    ],
}
POSITIVE = [
    "#{b}新品上市# 太好看了，冲！",
    "#{b}周年庆# 抽奖转发，祝我中奖🎉",
    "#{b}新品上市# 已下单，期待[哈哈]",
    "#{b}代言人# 官宣啦，支持支持！",
    "#{b}周年庆# 福利真的多，爱了",
]
STORM_TEXT = "#{b}# 这个广告拍得真有意思，笑死我了哈哈哈"
SHUIJUN = "{b}的东西千万别买，质量太差，都是智商税，大家擦亮眼睛！"
#: personal words that make organic posts distinct texts (people do not write the same sentence)
FILLER = [a + b for a in "我们他她昨今明早晚刚又还真挺超" for b in "天晚上午后说觉看想吃买去过来"]
EMOJI = ["", "😡", "[怒]", "！", "!!", "😤", "[抓狂]", "。", "……"]


@dataclass
class Event:
    kind: str  # sudden | slow | viral | campaign | outage | storm | shuijun
    start: int  # first window
    length: int  # windows
    strength: float = 2.0  # peak extra posts per window, as a multiple of the brand's mean rate (min 8/window)


@dataclass
class Scenario:
    name: str
    brand: str = "海底捞"
    windows: int = 7 * 1440
    interval: int = 60
    rate: float = 10.0  # mean mentions per window
    negative_share: float = 0.12
    growth: float = 0.0  # relative growth over the whole span (slow growth)
    daily_amplitude: float = 0.7
    topic: str = "food"
    events: list[Event] = field(default_factory=list)
    seed: int = 1
    start: datetime = START

    # ------------------------------------------------------------------------------------------ labels
    def labels(self) -> list[int]:
        out = [0] * self.windows
        for e in self.events:
            if e.kind in CRISIS_KINDS:
                for i in range(e.start, min(e.start + e.length, self.windows)):
                    out[i] = 1
        return out

    def crises(self) -> list[Event]:
        return [e for e in self.events if e.kind in CRISIS_KINDS]

    def expected_rate(self, i: int) -> float:
        t = self.start + timedelta(seconds=i * self.interval)
        hour = (t.hour + 8 + t.minute / 60) % 24  # China time: quiet at 4:00, busy at 21:00
        daily = 1 + self.daily_amplitude * math.cos((hour - 21) / 24 * 2 * math.pi) if self.interval < 86400 else 1.0
        weekly = 1.25 if (t + timedelta(hours=8)).weekday() >= 5 else 1.0
        return max(self.rate * daily * weekly * (1 + self.growth * i / self.windows), 0.0)

    # ------------------------------------------------------------------------------------------ counts
    def plan(self) -> Iterator[dict]:
        """Per window: the base volume, negatives and each event's extra posts (deterministic per seed)."""
        rnd = random.Random(self.seed)
        per_day = max(1, 86400 // self.interval)
        day_from, day_to = 1.0, rnd.lognormvariate(0, 0.15)
        for i in range(self.windows):
            if i % per_day == 0:  # some days are busier than others (changing smoothly, not at midnight)
                day_from, day_to = day_to, rnd.lognormvariate(0, 0.15)
            frac = (i % per_day) / per_day
            day_noise = day_from + (day_to - day_from) * frac
            lam = self.expected_rate(i) * day_noise * rnd.gammavariate(20, 1 / 20)
            total = poisson(rnd, lam)
            share = min(0.9, self.negative_share * rnd.lognormvariate(0, 0.2))
            negative = (
                sum(rnd.random() < share for _ in range(total))
                if total < 400
                else int(rnd.gauss(total * share, math.sqrt(total * share * (1 - share))) + 0.5)
            )
            extra: dict[str, int] = {}
            outage = False
            for e in self.events:
                k = i - e.start
                if not 0 <= k < e.length:
                    continue
                if e.kind == "outage":
                    outage = True
                    continue
                peak = max(e.strength * self.rate, 8.0)
                if e.kind == "sudden":
                    shape = min(1.0, 0.5 + k) if k < e.length * 0.6 else (e.length - k) / (e.length * 0.4)
                elif e.kind == "slow":
                    shape = (k + 1) / e.length
                elif e.kind == "viral":
                    shape = min(1.0, 0.1 * 2 ** (k / max(0.3, min(3.0, e.length / 30))))
                    if k > e.length * 0.7:
                        shape *= (e.length - k) / (e.length * 0.3)
                else:  # campaign, storm, shuijun: a plateau
                    shape = 1.0
                extra[e.kind] = extra.get(e.kind, 0) + poisson(rnd, peak * shape)
            if outage:
                total, negative, extra = 0, 0, {}
            yield {"i": i, "total": total, "negative": negative, "extra": extra}

    def counts(self) -> list[tuple[datetime, int, int]]:
        """(window start, mentions, negative mentions) — events included as a count source would see them."""
        out = []
        for w in self.plan():
            ex = w["extra"]
            crisis = sum(ex.get(k, 0) for k in CRISIS_KINDS)
            total = w["total"] + sum(ex.values())
            # crises: ~85% of the extra posts negative; campaign ~3%; storm reposts ~8% (sentiment noise); 水军 all
            negative = (
                w["negative"]
                + round(crisis * 0.85)
                + round(ex.get("campaign", 0) * 0.03)
                + round(ex.get("storm", 0) * 0.08)
                + ex.get("shuijun", 0)
            )
            out.append((self.start + timedelta(seconds=w["i"] * self.interval), total, negative))
        return out

    # ------------------------------------------------------------------------------------------ posts
    def posts(self) -> Iterator[EnrichedPost]:
        """The scenario as enriched posts, in event-time order within each window."""
        rnd = random.Random(self.seed * 7919 + 1)
        b = self.brand
        n = 0
        storm_root = f"weibo:{self.name}-storm-root"
        viral_root: dict[int, str] = {}
        words = CRISIS_WORDS[self.topic]

        def make(text, tokens, label, *, author=None, reposts=0, repost_of=None, t=None) -> EnrichedPost:
            nonlocal n
            n += 1
            score = {"negative": 0.1, "neutral": 0.5, "positive": 0.9}[label]
            return EnrichedPost.model_construct(
                platform="weibo",
                id=f"{self.name}-{n}",
                text=text,
                created_at=t,
                url=None,
                author=author or _organic_author(rnd, t),
                metrics=Metrics.model_construct(reposts=reposts, comments=rnd.randint(0, 5), likes=rnd.randint(0, 20)),
                repost_of=repost_of,
                brands=[b],
                brand=b,
                clean_text=text,
                quoted_text="",
                hashtags=[],
                mentions=[],
                tokens=tokens,
                keywords=tokens[:5],
                sentiment=Sentiment.model_construct(score=score, label=label),
                processed_at=t + timedelta(seconds=3),
            )  # rendered as a live stream (see replay_after_seconds)

        for w in self.plan():
            t0 = self.start + timedelta(seconds=w["i"] * self.interval)

            def at(t0: datetime = t0) -> datetime:
                return t0 + timedelta(seconds=rnd.random() * self.interval)

            batch = []
            for j in range(w["total"]):
                frags = rnd.sample(CALM_WORDS, 3)
                tokens = rnd.sample(FILLER, 2) + [x.format(b=b) for f in frags for x in f] + rnd.sample(FILLER, 2)
                label = "negative" if j < w["negative"] else rnd.choice(["neutral", "positive", "positive"])
                if label == "negative":
                    tokens += rnd.choice([["一般"], ["失望"], ["不", "推荐"]])
                batch.append(("calm", tokens, label))
            ex = w["extra"]
            for kind in CRISIS_KINDS:
                for _ in range(ex.get(kind, 0)):
                    frags = rnd.sample(words, rnd.randint(2, 4))
                    tokens = rnd.sample(FILLER, 2) + [b] + [x for f in frags for x in f] + rnd.sample(FILLER, 1)
                    label = "negative" if rnd.random() < 0.85 else "neutral"
                    batch.append((kind, tokens, label))
            for _ in range(ex.get("campaign", 0)):
                batch.append(("campaign", None, "negative" if rnd.random() < 0.03 else "positive"))
            for _ in range(ex.get("storm", 0)):
                batch.append(("storm", None, "negative" if rnd.random() < 0.08 else "neutral"))
            for _ in range(ex.get("shuijun", 0)):
                batch.append(("shuijun", None, "negative"))
            rnd.shuffle(batch)
            out = []
            for kind, tokens, label in batch:
                t = at()
                if kind == "campaign":
                    text = rnd.choice(POSITIVE).format(b=b) + rnd.choice(EMOJI[:2])
                    out.append(make(text, [b, "新品", "上市", "抽奖", "周年庆"][: rnd.randint(2, 5)], label, t=t))
                elif kind == "storm":
                    out.append(make("转发微博", ["转发", "微博"], label, repost_of=storm_root, t=t))
                elif kind == "shuijun":
                    text = SHUIJUN.format(b=b).replace("，", rnd.choice(["，", " ", "，，"]), 1) + rnd.choice(EMOJI)
                    out.append(
                        make(text, ["质量", "太差", "智商税", "擦亮", "眼睛"], label, author=_young_author(rnd, t), t=t)
                    )
                elif kind == "viral" and viral_root and rnd.random() < 0.5:
                    root = viral_root[0]
                    out.append(make("转发 //@爆料人:" + b + "后厨老鼠视频", ["转发"], label, repost_of=root, t=t))
                else:
                    text = "".join(tokens) + rnd.choice(EMOJI)
                    post = make(text, tokens, label, t=t, reposts=rnd.randint(0, 50) if kind != "calm" else 0)
                    if kind == "viral" and not viral_root:
                        viral_root[0] = post.key
                    out.append(post)
            out.sort(key=lambda p: p.created_at)
            yield from out


def _organic_author(rnd: random.Random, t: datetime) -> Author:
    uid = rnd.randint(1, 20000)
    return _author(f"u{uid}", f"用户{uid}", int(rnd.paretovariate(1.1) * 80), t - timedelta(days=200 + uid % 2000))


def _young_author(rnd: random.Random, t: datetime) -> Author:
    """A 水军 account: new, few followers, one of a small pool (the same accounts post again and again)."""
    uid = rnd.randint(1, 3000)
    return _author(f"sj{uid}", f"小号{uid}", rnd.randint(0, 30), t - timedelta(days=1 + uid % 20))


def _author(uid: str, name: str, followers: int, created_at: datetime) -> Author:
    # model_construct: generated values are valid by construction; validating every author only costs time
    return Author.model_construct(id=uid, name=name, verified=False, followers=followers, created_at=created_at)


def standard_scenarios(weeks: float = 1.0) -> list[Scenario]:
    """The labelled post-level scenarios of the benchmark (1-minute windows, one brand each)."""
    w = int(weeks * 7 * 1440)

    def at(days: float) -> int:  # a position in the week, scaled to the span
        return int(days / 7 * w)

    # name, seed, mean mentions per window, other settings, events as (kind, day of the week, windows, strength)
    table: list[tuple[str, int, float, dict[str, Any], list[tuple]]] = [
        ("calm", 11, 10, {}, []),
        ("growth+crises", 12, 8, {"growth": 1.0}, [("sudden", 2.55, 60, 2.0), ("slow", 5.4, 150, 2.0)]),
        (
            "campaign+crisis",
            13,
            12,
            {},
            [("campaign", 1.5, 180, 4.0), ("campaign", 4.45, 240, 6.0), ("sudden", 3.6, 45, 1.5)],
        ),
        (
            "outage+viral",
            14,
            15,
            {"topic": "car", "brand": "奔驰"},
            [("outage", 1.3, 60), ("outage", 2.8, 180), ("outage", 5.1, 25), ("viral", 4.4, 90, 5.0)],
        ),
        ("storm+crisis", 15, 10, {}, [("storm", 2.2, 120, 30.0), ("sudden", 5.7, 60, 2.5)]),
        (
            "shuijun+crisis",
            16,
            10,
            {},
            [("shuijun", 1.9, 30, 3.0), ("shuijun", 3.3, 20, 5.0), ("viral", 6.1, 80, 4.0)],
        ),
        ("small-brand", 17, 1.0, {"brand": "花西子"}, [("sudden", 3.45, 60, 12.0), ("slow", 5.5, 120, 15.0)]),
        (
            "big-brand",
            18,
            60,
            {"brand": "小米", "negative_share": 0.2},
            [("viral", 2.4, 120, 1.5), ("sudden", 4.6, 40, 0.8), ("campaign", 5.9, 300, 2.0)],
        ),
    ]
    return [
        Scenario(
            name,
            rate=rate,
            seed=seed,
            windows=w,
            events=[Event(kind, at(day), length, *strength) for kind, day, length, *strength in events],
            **settings,
        )
        for name, seed, rate, settings, events in table
    ]


def demo_scenario(hours: float = 5.0, crisis_at_hours: float = 4.0, rate: float = 20.0, seed: int = 21) -> Scenario:
    """Like the demo: a few hours of history, then a crisis (a short warm-up)."""
    return Scenario(
        "demo",
        rate=rate,
        windows=int(hours * 60),
        seed=seed,
        events=[Event("sudden", int(crisis_at_hours * 60), 30, 2.0)],
    )
