"""Per-post keywords: TF-IDF over the tokens we already have (no second segmentation).

Same ranking as ``jieba.analyse.TFIDF.extract_tags`` (words shorter than 2 characters and stop words skipped,
unseen words get the median IDF, ties keep first-seen order) — ``tests/processors/test_keywords.py`` proves it on
shared text — but with the shipped IDF table ``resources/idf.txt.gz`` built from review corpora + slang
(``lingting train-sentiment`` rebuilds it), instead of jieba's news-derived table.
"""
from __future__ import annotations

import gzip
from importlib import resources
from typing import Iterable, Sequence

from processors.segment import stop_words

IDF_RESOURCE = "idf.txt.gz"


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
        self.stop = frozenset(stop_words() if stop is None else stop)

    def extract(self, tokens: Sequence[str], top_k: int = 5) -> list[str]:
        """The ``top_k`` tokens by TF-IDF. Hashtag tokens (``#...#``) and emoticon codes are not keywords."""
        counts: dict[str, int] = {}
        stop = self.stop
        for tok in tokens:
            if len(tok.strip()) < 2 or tok.lower() in stop or tok[0] in "#[":
                continue
            counts[tok] = counts.get(tok, 0) + 1
        if not counts:
            return []
        idf, median = self.idf, self.median_idf
        scores = {w: c * idf.get(w, median) for w, c in counts.items()}
        return sorted(scores, key=scores.__getitem__, reverse=True)[:top_k]
