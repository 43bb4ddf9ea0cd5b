"""What one brand's event-time window accumulates: counts, stories, terms, authors, the most spread posts.

Everything is bounded (``max_*_per_window``): when a table is full, its smaller half is pruned (terms by count,
authors by influence, stories with a single post are folded into an overflow weight).
"""

from __future__ import annotations

import math

from processors.keywords import is_term
from schemas.posts import EnrichedPost

#: (story, account) pairs remembered per window; beyond it a new account of a story still counts once per post
_MAX_VOICES = 20_000


def story_weight(posts: int, voices: int = 1) -> float:
    """What a story counts for the detector: one per voice (distinct account) + log2 of the posts per voice.
    One account posting or reposting 5,000 times counts ≈ 13; 300 accounts pasting the same complaint count
    300 (a real Weibo crisis looks like that: grouping copies into one story must not hide it)."""
    if posts <= 0:
        return 0.0
    voices = min(max(voices, 1), posts)
    return voices + math.log2(posts / voices)


def influence(followers: int, posts: int, engagement: int) -> float:
    """How much an author drives a window: posts, weighted by audience (log followers), plus log engagement."""
    return posts * (1.0 + math.log10(1 + followers)) + math.log10(1 + engagement)


def post_terms(post: EnrichedPost, brand: str, limit: int = 30) -> list[str]:
    """Distinct terms of a post for the vocabulary: the tokens that may be keywords (``is_term``: no numbers,
    no near-stopwords), emoticon codes and hashtags, but not the brand itself nor its own hashtag."""
    seen: dict[str, None] = {}
    own_tag = f"#{brand}#"
    for tok in post.tokens:
        if tok != brand and tok != own_tag and (tok[:1] in "#[" or is_term(tok)):
            seen.setdefault(tok, None)
    for tag in post.hashtags:
        if tag and tag != brand:
            seen.setdefault(f"#{tag}#", None)
    return list(seen)[:limit]


class WindowAgg:
    """Aggregates of one window of one brand."""

    __slots__ = (
        "start",
        "total",
        "negative",
        "reach",
        "engagement",
        "stories",
        "overflow_total",
        "overflow_negative",
        "terms",
        "authors",
        "samples",
        "caps",
        "voices",
    )

    def __init__(self, start: float, caps: tuple[int, int, int, int], state: dict | None = None) -> None:
        self.start = start
        self.caps = caps  # (terms, authors, stories, samples)
        st = state or {}
        self.total: int = st.get("n", 0)
        self.negative: int = st.get("neg", 0)
        self.reach: int = st.get("reach", 0)
        self.engagement: int = st.get("eng", 0)
        # story id -> [posts, negative posts, reach, suspicious posts, [account ids (capped)], voices]
        self.stories: dict[str, list] = st.get("stories", {})
        # "story|account" pairs seen in this window (voices are distinct accounts per story), bounded
        self.voices: set[str] = set(st.get("voices", ()))
        self.overflow_total: float = st.get("ovt", 0.0)
        self.overflow_negative: float = st.get("ovn", 0.0)
        self.terms: dict[str, int] = st.get("terms", {})
        # author id -> [name, followers, posts, engagement, negative posts]
        self.authors: dict[str, list] = st.get("authors", {})
        # story id -> sample post (dict), the most reposted post of each story
        self.samples: dict[str, dict] = st.get("samples", {})

    def add(self, post: EnrichedPost, story: str, terms: list[str], suspicious: bool) -> None:
        negative = post.sentiment.label == "negative"
        author = post.author
        followers = (author.followers or 0) if author else 0
        metrics = post.metrics
        engagement = metrics.engagement if metrics else 0
        reposts = metrics.reposts if metrics else 0
        self.total += 1
        self.negative += negative
        self.reach += followers
        self.engagement += engagement
        entry = self.stories.get(story)
        if entry is None:
            if len(self.stories) >= self.caps[2]:
                self._prune_stories()
            entry = self.stories[story] = [0, 0, 0, 0, [], 0]
        entry[0] += 1
        entry[1] += negative
        entry[2] += followers
        entry[3] += suspicious
        author_id = (author.id or author.name) if author else None
        if author_id:
            pair = f"{story}|{author_id}"
            if pair not in self.voices:
                if len(self.voices) < _MAX_VOICES:
                    self.voices.add(pair)
                if len(entry) < 6:  # a story saved before voices were counted
                    entry.append(len(entry[4]))
                entry[5] += 1
                if len(entry[4]) < 50:
                    entry[4].append(author_id)
        terms_table = self.terms
        for term in terms:
            terms_table[term] = terms_table.get(term, 0) + 1
        if len(terms_table) > self.caps[0]:
            keep = sorted(terms_table.items(), key=lambda kv: -kv[1])[: self.caps[0] // 2]
            self.terms = dict(keep)
        if author_id:
            a = self.authors.get(author_id)
            if a is None:
                if len(self.authors) >= self.caps[1]:
                    ranked = sorted(self.authors.items(), key=lambda kv: -influence(kv[1][1], kv[1][2], kv[1][3]))
                    self.authors = dict(ranked[: self.caps[1] // 2])
                a = self.authors[author_id] = [author.name if author else None, followers, 0, 0, 0]
            a[1] = max(a[1], followers)
            a[2] += 1
            a[3] += engagement
            a[4] += negative
        best = self.samples.get(story)
        if best is None or reposts > best["reposts"]:
            if best is None and len(self.samples) >= self.caps[3]:
                worst = min(self.samples, key=lambda k: (self.samples[k]["neg"], self.samples[k]["reposts"]))
                w = self.samples[worst]
                if (w["neg"], w["reposts"]) >= (negative, reposts):
                    return
                del self.samples[worst]
            self.samples[story] = {
                "platform": post.platform,
                "id": post.id,
                "text": post.text[:280],
                "url": post.url,
                "author_name": author.name if author else None,
                "followers": followers,
                "reposts": reposts,
                "created_at": post.created_at.isoformat(),
                "sentiment": round(post.sentiment.score, 4),
                "neg": int(negative),
            }

    def _prune_stories(self) -> None:
        """Fold single-post stories into the overflow weight (they count 1 each, like a story of one)."""
        for sid in [sid for sid, e in self.stories.items() if e[0] == 1][: max(1, len(self.stories) // 2)]:
            e = self.stories.pop(sid)
            self.overflow_total += 1.0
            self.overflow_negative += 1.0 if e[1] * 2 > e[0] else 0.0

    def story_counts(self) -> tuple[float, float]:
        """(total, negative) story-weighted counts: a story is negative when most of its posts here are."""
        total, negative = self.overflow_total, self.overflow_negative
        for posts, neg, _reach, _sus, _ids, *voices in self.stories.values():
            w = story_weight(posts, voices[0] if voices else 1)
            total += w
            if neg * 2 > posts:
                negative += w
        return total, negative

    @property
    def size(self) -> int:
        """Entries of its capped tables: what its persisted state grows with (about 30 bytes each)."""
        return len(self.stories) + len(self.voices) + len(self.terms) + len(self.authors) + len(self.samples)

    def to_state(self) -> dict:
        return {
            "n": self.total,
            "neg": self.negative,
            "reach": self.reach,
            "eng": self.engagement,
            "stories": self.stories,
            "ovt": self.overflow_total,
            "ovn": self.overflow_negative,
            "terms": self.terms,
            "authors": self.authors,
            "samples": self.samples,
            "voices": sorted(self.voices),
        }


def window_start(epoch: float, window_seconds: int) -> float:
    return math.floor(epoch / window_seconds) * window_seconds
