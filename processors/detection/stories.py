"""Stories: a post, its reposts and its near-duplicates (same text give or take a few characters).

A repost (``repost_of``) joins the story of the post it reposts. Other posts are compared by a 64-bit SimHash of
the character bigrams of their normalised text (case folded; punctuation, digits, emoji, [表情], @mentions and
URLs removed), indexed by 8 bands of 8 bits: texts within 7 differing bits always share a band and are found;
``near_duplicate_bits`` up to 24 also finds most texts a little further apart.

Memory is bounded: at most ``story_memory`` stories (least recently touched evicted, or after
``story_ttl_seconds``) and as many post → story links.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict

_STRIP = re.compile(r"https?://\S+|@[\w\u4e00-\u9fff-]{1,30}|\[[^\[\]\s]{1,8}\]|[^a-z\u3400-\u9fff]")
_BANDS = 8
_SCAN = 6  # newest stories compared per band (near duplicates are mostly recent)
_SPREAD_CACHE: dict[str, int] = {}
_HASH_CACHE: dict[str, int | None] = {}
_CACHE_MAX = 200_000
_MAX_FEATURES = 255  # column sums live in one byte each
#: per "half" h: bytes.translate table mapping a column sum to b"1" when it is > h, else b"0"
_MAJORITY = [bytes(49 if v > h else 48 for v in range(256)) for h in range(256)]
_BYTE_BITS = [sum(1 << (8 * i) for i in range(8) if v >> i & 1) for v in range(256)]


def normalise(text: str) -> str:
    """What SimHash sees: lower case CJK characters and Latin letters only."""
    return _STRIP.sub("", text.lower())


def text_features(text: str) -> list[str]:
    """Distinct character bigrams of the text after normalisation (single character texts: the character)."""
    return _features(normalise(text))


def _features(s: str) -> list[str]:
    if len(s) < 2:
        return [s] if s else []
    return list({s[i : i + 2] for i in range(len(s) - 1)})


def _spread(feature: str) -> int:
    """The feature's 64-bit hash with bit i moved to bit 8·i, so that summing spreads sums each bit column."""
    value = _SPREAD_CACHE.get(feature)
    if value is None:
        if len(_SPREAD_CACHE) >= _CACHE_MAX:
            _SPREAD_CACHE.clear()
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = sum(_BYTE_BITS[byte] << (64 * k) for k, byte in enumerate(reversed(digest)))
        _SPREAD_CACHE[feature] = value
    return value


def simhash(text: str) -> int | None:
    """64-bit SimHash of the normalised text (None when nothing is left after normalisation)."""
    s = normalise(text)
    h = _HASH_CACHE.get(s, -1)  # copies (templates, 水军, campaign hashtags) are common: hash them once
    if h != -1:
        return h
    features = _features(s)
    if len(features) > _MAX_FEATURES:  # a long text: a deterministic subset (set order varies per process)
        features = sorted(features)[:_MAX_FEATURES]
    if features:
        columns = sum(map(_spread, features)).to_bytes(64, "little")
        # a bit is set when more than half of the features have it
        h = int(columns.translate(_MAJORITY[len(features) // 2])[::-1], 2)
    else:
        h = None
    if len(_HASH_CACHE) >= 20_000:
        _HASH_CACHE.clear()
    _HASH_CACHE[s] = h
    return h


def _bands(h: int) -> list[int]:
    """Index keys of a hash: band number × 256 + the band's 8 bits."""
    return [(b << 8) | byte for b, byte in enumerate(h.to_bytes(_BANDS, "little"))]


class StoryIndex:
    """Assigns posts to stories. ``assign`` returns the story id (stable: the first post's key)."""

    def __init__(
        self, max_stories: int = 2000, ttl_seconds: float = 21600, max_distance: int = 7, state: dict | None = None
    ) -> None:
        self.max_stories, self.ttl, self.max_distance = max_stories, ttl_seconds, max_distance
        # story id -> [simhash or None, last touched (epoch s), posts]
        self.stories: OrderedDict[str, list] = OrderedDict()
        self.links: OrderedDict[str, str] = OrderedDict()  # post key -> story id (for reposts)
        self.bands: dict[int, list[str]] = {}
        for sid, h, seen, posts in (state or {}).get("stories", []):
            self._add(sid, int(h, 16) if h else None, seen, posts)
        for post, sid in (state or {}).get("links", []):
            if sid in self.stories:
                self.links[post] = sid

    def _add(self, sid: str, h: int | None, seen: float, posts: int) -> None:
        self.stories[sid] = [None, seen, posts]
        if h is not None:
            self._index(sid, h)

    def _index(self, sid: str, h: int) -> None:
        self.stories[sid][0] = h
        for band in _bands(h):
            self.bands.setdefault(band, []).append(sid)

    def _evict(self, now: float) -> None:
        while self.stories:
            sid, (h, seen, _) = next(iter(self.stories.items()))
            if len(self.stories) <= self.max_stories and now - seen <= self.ttl:
                break
            del self.stories[sid]
            if h is not None:
                for band in _bands(h):
                    ids = self.bands.get(band)
                    if ids is not None:
                        try:
                            ids.remove(sid)
                        except ValueError:
                            pass
                        if not ids:
                            del self.bands[band]
        while len(self.links) > 2 * self.max_stories:
            self.links.popitem(last=False)

    def _touch(self, sid: str, now: float) -> str:
        entry = self.stories[sid]
        entry[1] = max(entry[1], now)
        entry[2] += 1
        self.stories.move_to_end(sid)
        return sid

    def nearest(self, h: int) -> str | None:
        """The closest story within ``max_distance`` bits, among the newest stories sharing a band."""
        best, best_d = None, self.max_distance + 1
        stories, bands = self.stories, self.bands
        for band in _bands(h):
            ids = bands.get(band)
            if not ids:
                continue
            for sid in ids[-_SCAN:]:
                d = (h ^ stories[sid][0]).bit_count()
                if d < best_d:
                    best, best_d = sid, d
                    if d == 0:
                        return best
        return best

    def seen(self, post_key: str) -> bool:
        """Whether this post was assigned recently (a duplicate delivery)."""
        return self.links.get(post_key) in self.stories

    def assign(self, post_key: str, text: str, repost_of: str | None, now: float) -> str:
        """The story of a post; ``repost_of`` is the reposted post's key (``platform:id``)."""
        if self.seen(post_key):
            return self.links[post_key]
        sid = None
        if repost_of:
            sid = self.links.get(repost_of)
            if sid is None or sid not in self.stories:
                sid = repost_of  # the original was not seen (yet): the story is named after it
                if sid not in self.stories:
                    self._add(sid, None, now, 0)
        elif post_key in self.stories:  # an original arriving after its reposts joins the story named after it
            sid = post_key
            if self.stories[sid][0] is None:
                h = simhash(text)
                if h is not None:
                    self._index(sid, h)
        else:
            h = simhash(text)
            if h is not None:
                sid = self.nearest(h)
            if sid is None:
                sid = post_key
                self._add(sid, h, now, 0)
        self.links[post_key] = sid
        self.links.move_to_end(post_key)
        self._touch(sid, now)
        self._evict(now)
        return sid

    def to_state(self, limit: int) -> dict:
        recent = list(self.stories.items())[-limit:] if limit else []
        keep = {sid for sid, _ in recent}
        links = [(p, s) for p, s in list(self.links.items())[-2 * limit :] if s in keep] if limit else []
        stories = [
            [sid, format(h, "x") if h is not None else None, round(seen, 1), posts] for sid, (h, seen, posts) in recent
        ]
        return {"stories": stories, "links": links}
