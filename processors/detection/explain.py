"""Explanations of an alert: rising terms (against the brand's baseline vocabulary), driving authors, the most
spread posts.

The baseline vocabulary is bounded: the ``vocabulary_size`` terms with the highest decayed document frequency
(half-life ``vocabulary_halflife_windows``), learned from calm windows only, so a crisis's own words keep their
lift while it lasts. A term's lift = (its posts in the window + ½) / (posts expected from the baseline + ½); terms
are ranked by count × ln(lift) (a term must both be frequent here and unusual for the brand), and need ≥ 2 posts.
"""

from __future__ import annotations

import math

from processors.detection.baseline import decay_rate
from processors.detection.windows import WindowAgg, influence
from schemas.alerts import SamplePost, TopAuthor, TopTerm


class Vocabulary:
    """Decayed document frequencies of the brand's terms. Decay is lazy (new counts are scaled up instead of
    old ones down) and pruning happens when the table is 1.5× its size, so a window costs O(its terms)."""

    def __init__(self, size: int, halflife_windows: float, state: dict | None = None) -> None:
        self.size = size
        self.keep = 1.0 - decay_rate(halflife_windows)
        state = state or {}
        self.weights: dict[str, float] = dict(state.get("w", {}))  # in units of the current window's scale
        self.docs: float = state.get("docs", 0.0)
        self.scale = 1.0  # the weight of one count in the newest window

    def learn(self, terms: dict[str, int], posts: int) -> None:
        self.scale /= self.keep
        scale = self.scale
        weights = self.weights
        for term, count in terms.items():
            weights[term] = weights.get(term, 0.0) + count * scale
        self.docs += posts * scale
        if len(weights) > self.size * 1.5:
            self.weights = dict(sorted(weights.items(), key=lambda kv: -kv[1])[: self.size])
        if scale > 1e6:
            self._normalise()

    def _normalise(self) -> None:
        scale = self.scale
        self.weights = {t: w / scale for t, w in self.weights.items()}
        self.docs /= scale
        self.scale = 1.0

    def expected(self, term: str, posts: int, floor: float | None = None) -> float:
        """Posts with ``term`` expected among ``posts``; a term not among the brand's usual ones is taken to be
        at most half as common as the rarest kept one (``floor``)."""
        if self.docs <= 0:
            return 0.0
        w = self.weights.get(term)
        if w is None:
            w = floor if floor is not None else min(self.weights.values(), default=0.0) * 0.5
        return posts * w / self.docs

    def rising(self, terms: dict[str, int], posts: int, limit: int) -> list[TopTerm]:
        ranked = []
        floor = min(self.weights.values(), default=0.0) * 0.5
        for term, count in terms.items():
            if count < 2:
                continue
            lift = (count + 0.5) / (self.expected(term, posts, floor) + 0.5)
            if lift > 1.5:
                ranked.append((count * math.log(lift), term, count, lift))
        ranked.sort(reverse=True)
        return [TopTerm(term=t, count=c, lift=round(lift, 2)) for _, t, c, lift in ranked[:limit]]

    def to_state(self) -> dict:
        self._normalise()
        weights = sorted(self.weights.items(), key=lambda kv: -kv[1])[: self.size]
        return {"w": {t: round(w, 4) for t, w in weights}, "docs": round(self.docs, 4)}


def top_authors(window: WindowAgg, limit: int) -> list[TopAuthor]:
    """Authors ranked by influence; authors of negative posts first when the window has negatives."""
    rows = []
    for author_id, (name, followers, posts, engagement, negative) in window.authors.items():
        if window.negative and not negative:
            continue
        rows.append(
            TopAuthor(
                id=author_id,
                name=name,
                followers=followers,
                posts=posts,
                engagement=engagement,
                influence=round(influence(followers, posts, engagement), 3),
            )
        )
    rows.sort(key=lambda a: -a.influence)
    return rows[:limit]


def sample_posts(window: WindowAgg, limit: int) -> list[SamplePost]:
    """The most reposted post of each story, negative ones first."""
    ranked = sorted(window.samples.values(), key=lambda s: (-s["neg"], -s["reposts"]))
    return [SamplePost(**{k: v for k, v in s.items() if k != "neg"}) for s in ranked[:limit]]
