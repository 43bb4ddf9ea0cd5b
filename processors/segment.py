"""Word segmentation: one jieba ``Tokenizer`` per worker, with brand terms, slang and a consumer lexicon as user words.

jieba's default dictionary is loaded once (from jieba's own cache file, ~1 s). Brand names, aliases and products
are added with ``add_word`` and jieba's suggested frequency, so 海底捞 or 蒙牛 always stay one token. The shipped
dictionaries, in jieba's user-dictionary format (``word freq tag``), add what jieba's 2013-era dictionary splits:
internet slang (``resources/slang_dict.txt``: 破防, 打工人) and the consumer and food-safety lexicon
(``resources/consumer_dict.txt``: 后厨, 食安, 生椰拿铁, 小米椒); each file states the source of its lists.

HMM new-word discovery is off by default. Measured on the review corpora: HMM on costs ~25% throughput on
25-char posts (~12% on 130-char ones) and gains ~1 point of cross-domain sentiment accuracy (0.804→0.812
hotel→waimai, 0.792→0.805 waimai→hotel; in-domain ±0.2). Speed is the harder target, so off; slang and brands
come from the dictionaries. The setting the sentiment model was trained with is recorded with the model and
used by the Enricher, so tokens at run time always match training.

Speed: ``cut`` is jieba's own ``Tokenizer.cut`` loop (split into Han/latin blocks, then DAG segmentation per
block), with a bounded cache of block → words (social text repeats its clauses and reposts). With HMM off, a block
is segmented by rjieba (jieba-rs, the Rust port: the same dictionary file and the same maximum-probability path,
~16x faster) loaded with the same user words at the same frequencies. The one place the two can differ is a tie
between equally probable paths, which needs a repeated substring (太太太, 好吃好吃): blocks with a short square
(``(.{1,4})\1``, ~5% of review blocks) go to jieba itself. The tokens are exactly jieba's:
``tests/processors/test_segment.py`` compares them with ``Tokenizer.lcut`` on the review corpora and odd text.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources

import jieba
import rjieba

RESOURCES = resources.files("processors.resources")

jieba.setLogLevel(logging.WARNING)

#: jieba's block splitter (jieba.re_han_default): runs of Han characters, latin letters, digits and +#&._%-.
_RE_HAN = jieba.re_han_default
BLOCK_CACHE_SIZE = 20_000
#: A substring repeated at once: where two segmentations can tie and jieba-rs may break the tie differently.
_SQUARE = re.compile(r"(.{1,4})\1")


#: The shipped user dictionaries, in load order (a later entry for the same word wins).
USER_DICTIONARIES = ("slang_dict.txt", "consumer_dict.txt")


@lru_cache(maxsize=1)
def slang_entries() -> tuple[tuple[str, int, str], ...]:
    """(word, freq, tag) of every shipped user dictionary (slang and the consumer lexicon), in load order."""
    entries = []
    for name in USER_DICTIONARIES:
        for line in (RESOURCES / name).read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if parts and not line.startswith("#"):
                entries.append((parts[0], int(parts[1]) if len(parts) > 1 else 0, parts[2] if len(parts) > 2 else ""))
    return tuple(entries)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Function words left out of tokens and keywords (negators and degree words are kept)."""
    lines = (RESOURCES / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


_PUNCT_CACHE: dict[str, bool] = {}


def is_punctuation(token: str) -> bool:
    """True for tokens with no letter, digit or CJK character (punctuation, symbols, spaces)."""
    known = _PUNCT_CACHE.get(token)
    if known is None:
        known = not any(ch.isalnum() for ch in token)
        if len(_PUNCT_CACHE) < 100_000:
            _PUNCT_CACHE[token] = known
    return known


class Segmenter:
    """jieba segmentation with project dictionaries. Build once per process; ``cut`` is thread-compatible
    (jieba's Tokenizer is read-only after initialisation)."""

    def __init__(self, user_terms: Iterable[str] = (), *, hmm: bool = False, slang: bool = True) -> None:
        """``slang``: load the shipped user dictionaries (off only to compare with plain jieba)."""
        self.hmm = hmm
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        self._fast = None if hmm else rjieba.Jieba()  # jieba-rs has its own HMM: jieba's stays the reference
        if slang:
            for word, freq, tag in slang_entries():
                self._add_word(word, freq or None, tag or None)
        self.user_terms: list[str] = []
        self._blocks: dict[str, tuple[str, ...]] = {}
        # jieba 0.42.1 internals (name-mangled): the per-block segmenters that Tokenizer.cut calls.
        self._cut_block = self.tokenizer._Tokenizer__cut_DAG if hmm else self.tokenizer._Tokenizer__cut_DAG_NO_HMM
        for term in user_terms:
            self.add_term(term)
        self.stop_words = stop_words()

    def add_term(self, term: str) -> None:
        """Keep ``term`` (and its lower-case form) as one token. Terms with spaces cannot be one jieba token."""
        term = (term or "").strip()
        if not term or any(ch.isspace() for ch in term):
            return
        for variant in {term, term.lower()}:
            self._add_word(variant)  # freq=None: jieba suggests a frequency that keeps it whole
        self.user_terms.append(term)
        self._blocks.clear()

    def _add_word(self, word: str, freq: int | None = None, tag: str | None = None) -> None:
        """Add to jieba and, with the frequency jieba chose, to the fast segmenter: both then find the same path."""
        if freq is None:
            freq = self.tokenizer.suggest_freq(word, False)  # what jieba's add_word(word) would use
        self.tokenizer.add_word(word, freq, tag)
        if self._fast is not None:
            self._fast.add_word(word, int(freq), tag)

    def cut(self, text: str) -> list[str]:
        """All tokens in order, punctuation included (it bounds negation scope); whitespace dropped."""
        if not text:
            return []
        out: list[str] = []
        blocks = self._blocks
        for block in _RE_HAN.split(text):
            if not block:
                continue
            if _RE_HAN.match(block):
                words = blocks.get(block)
                if words is None:
                    if self._fast is not None and not _SQUARE.search(block):
                        words = tuple(self._fast.cut(block, False))  # tuples of str: not tracked by the GC
                    else:
                        words = tuple(self._cut_block(block))
                    if len(blocks) >= BLOCK_CACHE_SIZE:
                        blocks.clear()
                    blocks[block] = words
                out.extend(words)
            else:  # jieba yields other characters one by one
                out.extend(ch for ch in block if not ch.isspace())
        return out

    def content(self, raw_tokens: Iterable[str]) -> list[str]:
        """Tokens worth indexing: no punctuation, no stop words."""
        stop, punct = self.stop_words, _PUNCT_CACHE
        return [t for t in raw_tokens if t not in stop and not (punct.get(t) or (t not in punct and is_punctuation(t)))]

    def without_hashtag_repeats(self, words: list[str], hashtags: Sequence[str]) -> list[str]:
        """``words`` (the content of a post whose text keeps its hashtags' words inline) with the words of its
        hashtags counted as often as the rest of the post says them, and once if only hashtags say them:
        "#海底捞后厨老鼠# #海底捞# 海底捞后厨有老鼠" has 海底捞 and 后厨 once, "去了#海底捞#吃饭" keeps its one.
        The hashtags themselves are tokens of their own (``#海底捞#``, added by the Enricher)."""
        if not hashtags:
            return words
        tagged = Counter(w for tag in hashtags for w in self.content(self.cut(tag)))
        counts = Counter(words)
        drop = {}
        for w, n in tagged.items():
            said = counts.get(w, 0)
            keep = max(said - n, 1)  # what the rest of the post says, or one
            if said > keep:
                drop[w] = said - keep
        if not drop:
            return words
        out = []
        for w in words:  # the first occurrences go: hashtags mostly lead a post
            if drop.get(w):
                drop[w] -= 1
                continue
            out.append(w)
        return out
