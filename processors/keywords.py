"""Per-post keywords: TF-IDF over the tokens we already have (no second segmentation), and which words may be a
keyword or an alert's top term at all (``is_term``, also used by the detector's vocabulary).

Same ranking as ``jieba.analyse.TFIDF.extract_tags`` (words shorter than 2 characters and stop words skipped,
unseen words get the median IDF, ties keep first-seen order) — ``tests/processors/test_keywords.py`` proves it on
shared text — but with the shipped IDF table ``resources/idf.txt.gz`` built from review corpora + slang
(``lingting train-sentiment`` rebuilds it), instead of jieba's news-derived table, and with more words skipped:
the near-stopwords of ``resources/keyword_stopwords.txt`` (这种, 真是, 呵呵, 以前) and numbers with or without a
measure word (三个, 第一次, 半小时, 2020). Those stay in ``tokens``: search and the sentiment model read them.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources

from processors.segment import RESOURCES, stop_words

IDF_RESOURCE = "idf.txt.gz"
_TERM_CACHE_SIZE = 100_000
_NUMERALS = "0123456789.,%〇零一二三四五六七八九十百千万亿两几半多数"
#: A number, optionally ordinal (第) and followed by measure words: 三个, 两次, 第一次, 一个多, 半小时, 3.5.
_COUNTED = re.compile(
    f"第?[{_NUMERALS}]+(?:个|次|天|年|月|日|号|点|分|分钟|秒|小时|周|件|位|名|只|条|家|些|种|"
    "回|遍|场|下|块|块钱|元|毛|份|杯|碗|瓶|盒|袋|斤|克|米|公里|层|楼|岁|人|倍|成)*[多半余]?"
)
_COUNTED_START = frozenset("第" + _NUMERALS)


@lru_cache(maxsize=1)
def term_stop_words() -> frozenset[str]:
    """Words that are never keywords or alert terms: the function words of ``stopwords.txt`` and the
    near-stopwords of ``keyword_stopwords.txt``."""
    lines = (RESOURCES / "keyword_stopwords.txt").read_text(encoding="utf-8").splitlines()
    return stop_words() | frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def is_counted(token: str) -> bool:
    """A number or a numeral with measure words (三个, 第一次, 半小时): says how many, not what."""
    return token[:1] in _COUNTED_START and _COUNTED.fullmatch(token) is not None


def is_term(token: str, stop: frozenset[str] | None = None) -> bool:
    """May ``token`` be a keyword or an alert term? Two characters or more, not a (near-)stop word, not counted."""
    token = token.strip()
    return (
        len(token) >= 2 and token.lower() not in (term_stop_words() if stop is None else stop) and not is_counted(token)
    )


def parse_idf(text: str) -> dict[str, float]:
    """jieba ``idf.txt`` format: ``word idf`` per line."""
    idf: dict[str, float] = {}
    for line in text.splitlines():
        word, _, value = line.rpartition(" ")
        if word:
            try:
                idf[word] = float(value)
            except ValueError:
                continue
    return idf


def shipped_idf() -> dict[str, float]:
    data = (resources.files("processors.resources") / IDF_RESOURCE).read_bytes()
    return parse_idf(gzip.decompress(data).decode("utf-8"))


class KeywordExtractor:
    def __init__(self, idf: dict[str, float] | None = None, stop: Iterable[str] | None = None) -> None:
        self.idf = shipped_idf() if idf is None else idf
        values = sorted(self.idf.values())
        self.median_idf = values[len(values) // 2] if values else 1.0
        self.stop = term_stop_words() if stop is None else frozenset(stop)
        self._is_term: dict[str, bool] = {}  # token → may it be a keyword (posts repeat their words)

    def extract(self, tokens: Sequence[str], top_k: int = 5) -> list[str]:
        """The ``top_k`` tokens by TF-IDF. Hashtag tokens (``#...#``) and emoticon codes are not keywords."""
        counts: dict[str, int] = {}
        stop, known = self.stop, self._is_term
        for tok in tokens:
            ok = known.get(tok)
            if ok is None:
                ok = tok[:1] not in "#[" and is_term(tok, stop)
                if len(known) >= _TERM_CACHE_SIZE:
                    known.clear()
                known[tok] = ok
            if ok:
                counts[tok] = counts.get(tok, 0) + 1
        if not counts:
            return []
        idf, median = self.idf, self.median_idf
        scores = {w: c * idf.get(w, median) for w, c in counts.items()}
        return sorted(scores, key=scores.__getitem__, reverse=True)[:top_k]
