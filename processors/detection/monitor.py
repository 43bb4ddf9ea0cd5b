"""``BrandMonitor``: all detection state of one brand — event-time windows, stories, baselines, crisis.

Event time is ``post.created_at`` (capped at ``processed_at + max_future_seconds``). Windows are
``window_seconds`` long and aligned to the epoch; the brand's watermark is its newest event time (or the tick
time given to ``advance``); a window closes once ``window end + allowed_lateness ≤ watermark``, in order, empty
windows included (a quiet minute is a zero). While a backlog is replayed, the raw partitions it is read from
advance at different speeds: the watermark is then held at the slowest of them (each tracked by the newest event
it delivered) until it drains, so no partition's posts are counted late because another ran ahead. A post for a closed window is late: dropped and counted
(``late_posts``); a post seen recently (same ``platform:id``) is a duplicate delivery: dropped and counted
(``duplicate_posts``). Closing a window feeds its story-weighted counts to the ``SpikeDetector``; a crisis state
change becomes an ``Alert`` with its explanation.

State (``to_state``) is JSON and bounded: the detector (a few hundred numbers), the open windows (capped
tables), the most recent stories and the baseline vocabulary — about 10-40 KB for a busy brand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from processors.detection.coordination import coordination, is_suspicious_account
from processors.detection.detector import SpikeDetector, Verdict
from processors.detection.explain import Vocabulary, sample_posts, top_authors
from processors.detection.settings import DetectionSettings
from processors.detection.stories import StoryIndex
from processors.detection.windows import WindowAgg, post_terms, window_start
from schemas.alerts import Alert, AlertStatus, Severity
from schemas.posts import EnrichedPost

STATE_VERSION = 1
#: Longer silences than this are not replayed window by window (a brand back after weeks starts afresh there).
MAX_GAP_SECONDS = 7 * 86400


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _repost_key(post: EnrichedPost) -> str | None:
    ref = post.repost_of
    if not ref:
        return None
    return ref if ":" in ref else f"{post.platform}:{ref}"


class BrandMonitor:
    """All state of one brand; ``add``/``advance`` return the alerts of the windows they closed."""

    def __init__(self, brand: str, settings: DetectionSettings, state: dict | None = None) -> None:
        self.brand, self.settings = brand, settings
        s = settings
        # a state of another format or window length is not reused (its windows would not line up)
        st = state if state and state.get("v") == STATE_VERSION and state.get("width") == s.window_seconds else {}
        self.width = s.window_seconds
        self.detector = SpikeDetector(s, s.window_seconds, st.get("detector"))
        self.stories = StoryIndex(s.story_memory, s.story_ttl_seconds, s.near_duplicate_bits, st.get("stories"))
        self.vocabulary = Vocabulary(s.vocabulary_size, s.vocabulary_halflife_windows, st.get("vocabulary"))
        self.caps = (s.max_terms_per_window, s.max_authors_per_window, 300, max(3, s.sample_posts * 2))
        self.watermark: float | None = st.get("watermark")
        self.next_start: float | None = st.get("next_start")  # start of the oldest window not yet closed
        self.closed_any: bool = st.get("closed_any", False)
        self.late_posts: int = st.get("late_posts", 0)
        self.replaying: bool = st.get("replaying", False)
        # during a replay, raw partition → [newest event, its processing time, 1.0 if that post was replayed]
        self.replay_sources: dict[str, list[float]] = st.get("replay_sources", {})
        # [processing time the replay began, its oldest event, the latest processing time, its newest event]
        self.replay_span: list[float] = st.get("replay_span", [])
        self.replay_all_seen: bool = st.get("replay_all_seen", False)  # every raw partition has delivered
        self.duplicate_posts: int = st.get("duplicate_posts", 0)
        self.windows: dict[float, WindowAgg] = {
            float(k): WindowAgg(float(k), self.caps, w) for k, w in st.get("windows", {}).items()
        }

    # ------------------------------------------------------------------------------------------ input
    def add(self, post: EnrichedPost, source: int | None = None, sources: int | None = None) -> list[Alert]:
        """``source`` is the raw partition the post was read from and ``sources`` how many raw partitions there
        are (None: unknown, e.g. a backtest)."""
        s = self.settings
        event = post.created_at.timestamp()
        if post.processed_at is not None:
            processed = post.processed_at.timestamp()
            event = min(event, processed + s.max_future_seconds)
            self._track_replay(source, event, processed, processed - event > s.replay_after_seconds, sources)
        start = window_start(event, self.width)
        if self.next_start is None or (start < self.next_start and not self.closed_any):
            self.next_start = start  # the first windows: nothing closed yet, so nothing is late
        if start < self.next_start:
            self.late_posts += 1
            return []
        if self.stories.seen(post.key):  # the same post delivered twice (at-least-once upstream): count it once
            self.duplicate_posts += 1
            return []
        window = self.windows.get(start)
        if window is None:
            window = self.windows[start] = WindowAgg(start, self.caps)
        story = self.stories.assign(post.key, post.clean_text or post.text, _repost_key(post), event)
        window.add(post, story, post_terms(post, self.brand), is_suspicious_account(post, s))
        self.watermark = max(self.watermark or event, event)
        return self._close_until(self._held_watermark() - self.lateness)

    def advance(self, now: datetime) -> list[Alert]:
        """Move the watermark to ``now`` (if later) and close the windows that are due. The owner calls it when
        the brand went quiet; quiet for ``replay_idle_seconds`` means every partition of a replay has drained."""
        at = now.timestamp()
        if self.next_start is None:
            return []
        if self.replay_span and at - self.replay_span[3] > self.settings.replay_idle_seconds:
            self.replay_sources.clear()
            self.replay_span = []
            self.replaying = False
            self.replay_all_seen = False
        self.watermark = max(self.watermark or at, at)
        return self._close_until(self._held_watermark() - self.lateness)

    def _track_replay(
        self, source: int | None, event: float, processed: float, replayed: bool, sources: int | None
    ) -> None:
        """A post published ``replay_after_seconds`` before it was processed is a replay (a backlog or
        backfill). From then on each raw partition's newest event is tracked, and the watermark held at the
        slowest, until the partitions have caught up with each other and none replays any more. A partition that
        delivered nothing for ``replay_idle_seconds`` of processing time has drained and stops holding. Once
        every one of ``sources`` partitions has delivered, none is unknown: the grace period is over."""
        s = self.settings
        if source is not None and (replayed or self.replay_sources):
            if not self.replay_sources:
                self.replay_span = [processed, event, processed, event]
            key = str(source)
            newest = self.replay_sources.get(key, [event])[0]
            self.replay_sources[key] = [max(newest, event), processed, float(replayed)]
            span = self.replay_span
            if processed - span[0] <= s.replay_grace_seconds:
                span[1] = min(span[1], event)
            span[2], span[3] = processed, max(span[3], event)
            self.replay_sources = {
                k: v for k, v in self.replay_sources.items() if processed - v[1] <= s.replay_idle_seconds
            }
            marks = [v[0] for v in self.replay_sources.values()]
            self.replay_all_seen = sources is not None and len(self.replay_sources) >= sources
            settled = (
                (processed - span[0] > s.replay_grace_seconds or self.replay_all_seen)
                and not any(v[2] for v in self.replay_sources.values())
                and max(marks) - min(marks) <= s.allowed_lateness_seconds
            )
            if settled:
                self.replay_sources, self.replay_span, self.replay_all_seen = {}, [], False
        self.replaying = replayed or any(v[2] for v in self.replay_sources.values())

    def _held_watermark(self) -> float:
        """The watermark, held at the slowest partition of a replay (never more than ``replay_hold_max_seconds``
        behind, nor with more than ``replay_hold_max_entries`` in the open windows: both bound the state). For the replay's first ``replay_grace_seconds`` the
        partitions that have not delivered yet are unknown: it is held at the replay's oldest post."""
        assert self.watermark is not None
        if not self.replay_sources:
            return self.watermark
        began, oldest, latest, _ = self.replay_span
        if latest - began <= self.settings.replay_grace_seconds and not self.replay_all_seen:
            slowest = oldest
        else:
            slowest = min(v[0] for v in self.replay_sources.values())
        held = max(min(self.watermark, slowest), self.watermark - self.settings.replay_hold_max_seconds)
        if (
            held < self.watermark
            and len(self.windows) > 10
            and sum(w.size for w in self.windows.values()) > self.settings.replay_hold_max_entries
        ):
            return self.watermark  # the state is one Kafka record (1 MB): a busy brand's hold ends sooner
        return held

    @property
    def lateness(self) -> float:
        """How long a window waits for late posts: short live (it is the alert delay), long during a replay."""
        s = self.settings
        return s.replay_lateness_seconds if self.replaying else s.allowed_lateness_seconds

    # ------------------------------------------------------------------------------------------ closing
    def _close_until(self, limit: float) -> list[Alert]:
        alerts: list[Alert] = []
        if self.next_start is None:
            return alerts
        if limit - self.next_start > MAX_GAP_SECONDS:  # a long silence: skip it, keep the learned baseline
            pending = sorted(k for k in self.windows if k < limit - MAX_GAP_SECONDS)
            for k in pending:
                alerts += self._close(self.windows.pop(k))
            self.next_start = window_start(limit - MAX_GAP_SECONDS, self.width)
        while self.next_start + self.width <= limit:
            window = self.windows.pop(self.next_start, None) or WindowAgg(self.next_start, self.caps)
            alerts += self._close(window)
            self.next_start += self.width
            self.closed_any = True
        return alerts

    def _close(self, window: WindowAgg) -> list[Alert]:
        total, negative = window.story_counts()
        verdict = self.detector.step(_utc(window.start), total, negative)
        calm = not verdict.anomalous and self.detector.crisis is None and verdict.status != "resolved"
        if calm and window.total:
            self.vocabulary.learn(window.terms, window.total)
        if verdict.status is None:
            return []
        return [self._alert(verdict, window)]

    def _alert(self, v: Verdict, window: WindowAgg) -> Alert:
        s = self.settings
        severity = cast(Severity, v.crisis_severity or v.severity or "low")
        status = cast(AlertStatus, v.status)  # _close returns before this when there is none
        start = v.crisis_start or v.window_start
        terms = self.vocabulary.rising(window.terms, window.total, s.top_terms)
        coord = coordination(window, s)
        alert = Alert(
            id=f"{self.brand}:{start.isoformat()}",
            brand=self.brand,
            severity=severity,
            status=status,
            sequence=v.sequence,
            window_start=v.window_start,
            window_end=v.window_end,
            crisis_start=start,
            observed=round(v.observed, 3),
            expected=round(v.expected, 3),
            score=round(v.score, 4),
            total=window.total,
            negative_share=round(v.negative_share, 4),
            expected_negative_share=round(v.expected_share or 0.0, 4),
            growth=round(v.growth, 3),
            reach=window.reach,
            engagement=window.engagement,
            top_terms=terms,
            top_authors=top_authors(window, s.top_authors),
            sample_posts=sample_posts(window, s.sample_posts),
            coordination=coord,
            created_at=datetime.now(UTC),
        )
        alert.summary = summary(alert, window)
        return alert

    # ------------------------------------------------------------------------------------------ state
    def to_state(self) -> dict:
        return {
            "v": STATE_VERSION,
            "width": self.width,
            "watermark": self.watermark,
            "next_start": self.next_start,
            "closed_any": self.closed_any,
            "late_posts": self.late_posts,
            "replaying": self.replaying,
            "replay_sources": self.replay_sources,
            "replay_span": self.replay_span,
            "replay_all_seen": self.replay_all_seen,
            "duplicate_posts": self.duplicate_posts,
            "detector": self.detector.to_state(),
            "stories": self.stories.to_state(self.settings.story_state),
            "vocabulary": self.vocabulary.to_state(),
            "windows": {str(k): w.to_state() for k, w in self.windows.items()},
        }


SEVERITY_ZH = {"low": "低", "medium": "中", "high": "高", "critical": "严重"}


def _n(x: float) -> str:
    """A count as a person reads it: story-weighted counts are fractions (23.755), nobody needs the decimals
    of ten or more; below ten one decimal tells 0.4 from 3."""
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}".removesuffix(".0")


def summary(alert: Alert, window: WindowAgg) -> str:
    """One Chinese paragraph an on-call person can act on."""
    local = (alert.window_start + timedelta(hours=8)).strftime("%m-%d %H:%M")
    minutes = (alert.window_end - alert.window_start).total_seconds() / 60
    span = f"{minutes:g} 分钟" if minutes < 60 else f"{minutes / 60:g} 小时"
    if alert.status == "resolved":
        began = ((alert.crisis_start or alert.window_start) + timedelta(hours=8)).strftime("%m-%d %H:%M")
        return (
            f"【已恢复】{alert.brand} 负面舆情已回落（{local} 起 {span} 窗口：负面 {_n(alert.observed)}，"
            f"基线 {_n(alert.expected)}）。危机自 {began}"
            f" 开始，峰值等级：{SEVERITY_ZH[alert.severity]}。"
        )
    head = "【舆情预警】" if alert.status == "open" else "【舆情升级】"
    parts = [
        f"{head}{alert.brand} 负面声量异常（等级：{SEVERITY_ZH[alert.severity]}）：{local} 起 {span}内"
        f"共 {window.total} 条提及、负面 {window.negative} 条，按传播合并后负面 {_n(alert.observed)}"
        f"（基线 {_n(alert.expected)}），负面占比 {alert.negative_share:.0%}"
        f"（平时 {alert.expected_negative_share:.0%}），环比 ×{alert.growth:.1f}。"
    ]
    if alert.top_terms:
        parts.append("上升热词：" + "、".join(t.term for t in alert.top_terms[:5]) + "。")
    if alert.top_authors:
        parts.append(
            "主要发声者：" + "、".join(f"{a.name or a.id}（粉丝 {a.followers}）" for a in alert.top_authors[:3]) + "。"
        )
    if alert.sample_posts and alert.sample_posts[0].reposts:
        parts.append(f"传播最广一条转发 {alert.sample_posts[0].reposts} 次。")
    if alert.coordination.suspected:
        parts.append(alert.coordination.reason + "。")
    return "".join(parts)
