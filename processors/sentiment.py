"""Sentiment: snownlp's naive Bayes classifier fed with our tokens, negation, lexicon and emoticon features.

The model is a ``snownlp.classification.bayes.Bayes`` (trained with ``Bayes.train``, stored with ``Bayes.save``
in its gzip+marshal format, see ``processors/train_sentiment.py``). Scoring does exactly the same multinomial
naive Bayes arithmetic as ``Bayes.classify`` but from one precomputed dict of per-feature log-likelihood
ratios (~12x faster: 1.3 µs instead of 16 µs for a 19-feature post); ``tests/processors/test_sentiment.py``
proves the equality. The worker reads the model file directly and never imports snownlp, whose package import
alone loads ~450 MB of snownlp's own models.

Features (``features``): words, negation-scoped words (不好吃 → 不_好吃, up to 2 words, ending at punctuation or
但是/不过...), word bigrams within a clause, and LEX+/LEX- counts from a small hand-built generic sentiment
lexicon (``resources/sentiment_lexicon.txt``), each counted once per text (binarized NB).

Two deliberate differences from ``Bayes.classify``, both stored with the model (``<model>.json``):
- features never seen in training are ignored (snownlp counts them, which pulls every unknown word towards the
  class with fewer training tokens);
- the class prior and the confidence are calibrated: ``P(positive) = sigmoid(a * llr + per_feature * known + b)``,
  a logistic regression fitted on out-of-fold scores (Platt scaling plus one term for the number of known
  features: the log-likelihood ratio sums one term per feature, so a bias of the training mix grows with the
  text's length; adding snownlp's sentences moved long hotel reviews by about -16); then the label is
  ``neutral`` inside the band ``[neutral_low, neutral_high]``.
Emoticons add a fixed log-odds per polarised emoticon (the review corpora have none to learn from).
"""
from __future__ import annotations

import gzip
import json
import marshal
import math
from dataclasses import dataclass, field, asdict
from importlib import resources
from typing import TYPE_CHECKING, Iterable, Literal, Sequence

from processors.segment import is_punctuation

if TYPE_CHECKING:  # importing snownlp loads all its models (~450 MB): only training and comparison do it
    from importlib.resources.abc import Traversable
    from pathlib import Path

    from snownlp.classification.bayes import Bayes

Label = Literal["positive", "neutral", "negative"]

#: Words that flip the polarity of the next words of the clause (不好吃 → 不 + 不_好吃).
NEGATORS = frozenset(
    "不 没 没有 别 无 未 非 莫 勿 甭 不是 不太 不怎么 不够 不算 不会 不能 不要 不用 并不 并没有 从不 从没 从来不 "
    "从来没 毫不 绝不 决不 一点也不 一点都不 根本不 根本没 再也不 不再 没法 无法 难以".split()
)
#: Clause breaks that end a negation scope (besides punctuation tokens).
SCOPE_BREAKS = frozenset("但 但是 可是 不过 而 却 然而 就是 只是".split())
#: Tokens too frequent and empty to be features.
FEATURE_STOP = frozenset("的 了 着 地 得 是 在 我 你 他 她 它 我们 就 也 都 这 那 个 一个 啊 吧 呢 吗 嘛 呀 啦".split())

DEFAULT_MODEL = "sentiment_lingting.marshal"


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    negation: bool = True        # mark words after a negator as 不_word
    negation_window: int = 2     # how many following words a negator covers (within the clause)
    bigrams: bool = True         # adjacent word pairs within a clause, "a+b"
    binary: bool = True          # count each feature once per text (binarized multinomial NB)
    lexicon: bool = False        # add LEX+ / LEX- features from the shipped generic sentiment lexicon
    char_bigrams: bool = False   # character bigrams within a clause ("c:难吃"): robust to segmentation
    contrast: bool = False       # lexicon hits after 但是/不过/就是... count twice (the clause that decides)


class Lexicon:
    """Generic sentiment words (``resources/sentiment_lexicon.txt``) → +1 / -1. A token that is not a lexicon
    word but contains one (真不错, 太慢) takes its polarity, flipped when the token starts with a negator (不干净)."""

    def __init__(self, words: dict[str, int]) -> None:
        self.words = words
        self.long_words = sorted((w for w in words if len(w) >= 2), key=len, reverse=True)
        self._rank = {w: i for i, w in enumerate(self.long_words)}
        self._cache: dict[str, int] = {}

    @classmethod
    def shipped(cls) -> "Lexicon":
        text = (resources.files("processors.resources") / "sentiment_lexicon.txt").read_text("utf-8")
        words = {}
        for line in text.splitlines():
            word, _, value = line.partition("\t")
            if word and not word.startswith("#") and value.strip() in ("+1", "-1"):
                words[word] = int(value)
        return cls(words)

    def polarity(self, token: str) -> int:
        known = self._cache.get(token)
        if known is not None:
            return known
        value = self.words.get(token, 0)
        if not value and len(token) >= 3:
            word = self._longest_inner_word(token)
            if word is not None:
                value = self.words[word]
                if token[0] in "不没无别" and word[0] not in "不没无别":
                    value = -value
        if len(self._cache) < 200_000:
            self._cache[token] = value
        return value

    def _longest_inner_word(self, token: str) -> str | None:
        """The first of ``long_words`` (longest first, then file order) that is a proper substring of ``token``.
        Short tokens look their substrings up (≤ 66 lookups) instead of scanning the whole lexicon."""
        if len(token) > 12:
            return next((w for w in self.long_words if len(w) < len(token) and w in token), None)
        rank = self._rank
        for n in range(len(token) - 1, 1, -1):
            best = None
            for i in range(len(token) - n + 1):
                r = rank.get(token[i:i + n])
                if r is not None and (best is None or r < best):
                    best = r
            if best is not None:
                return self.long_words[best]
        return None


def features(raw_tokens: Sequence[str], config: FeatureConfig = FeatureConfig(),
             lexicon: Lexicon | None = None) -> list[str]:
    """Sentiment features from the raw token stream (punctuation included: it bounds clauses)."""
    out: list[str] = []
    lex_pos = lex_neg = 0
    negate = 0
    weight = 1
    prev: str | None = None
    clause: list[str] = []
    for tok in raw_tokens:
        if is_punctuation(tok) or tok in SCOPE_BREAKS:
            negate = 0
            prev = None
            if tok in SCOPE_BREAKS:
                out.append(tok)
                if config.contrast:
                    weight = 2
            if config.char_bigrams and clause:
                _char_bigrams("".join(clause), out)
                clause = []
            continue
        if config.char_bigrams:
            clause.append(tok)
        if tok in FEATURE_STOP:
            continue
        if tok in NEGATORS:
            out.append(tok)
            if config.negation:
                negate = config.negation_window
            if config.bigrams and prev is not None:
                out.append(prev + "+" + tok)
            prev = tok
            continue
        polarity = lexicon.polarity(tok) if lexicon is not None else 0
        if negate:
            out.append("不_" + tok)
            negate -= 1
            polarity = -polarity
        else:
            out.append(tok)
        if polarity > 0:
            lex_pos += weight
        elif polarity < 0:
            lex_neg += weight
        if config.bigrams and prev is not None:
            out.append(prev + "+" + tok)
        prev = tok
    if config.char_bigrams and clause:
        _char_bigrams("".join(clause), out)
    if lex_pos:
        out.extend(LEX_POS[: min(lex_pos, len(LEX_POS))])
    if lex_neg:
        out.extend(LEX_NEG[: min(lex_neg, len(LEX_NEG))])
    if config.binary:
        return list(dict.fromkeys(out))
    return out


def _char_bigrams(text: str, out: list[str]) -> None:
    out.extend("c:" + text[i:i + 2] for i in range(len(text) - 1))


# One feature per lexicon hit, up to 4, distinct names so that binarized counting still counts them.
LEX_POS = ("LEX+", "LEX+2", "LEX+3", "LEX+4")
LEX_NEG = ("LEX-", "LEX-2", "LEX-3", "LEX-4")


@dataclass(slots=True)
class Calibration:
    """How raw naive Bayes log-likelihood ratios become probabilities and labels."""

    a: float = 1.0                 # scale of the log-likelihood ratio (naive Bayes is over-confident)
    b: float = 0.0                 # bias = calibrated class prior
    per_feature: float = 0.0       # log-odds per known feature: offsets naive Bayes' drift on long texts
    neutral_low: float = 0.35      # P(positive) in [low, high] → neutral
    neutral_high: float = 0.65
    emoticon_weight: float = 1.5   # log-odds per polarised emoticon, added after calibration
    features: dict = field(default_factory=lambda: asdict(FeatureConfig()))
    trained_on: dict = field(default_factory=dict)

    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(**self.features)

    def logit(self, z: float, known: int) -> float:
        """Calibrated log-odds of a text whose ``known`` features sum to the log-likelihood ratio ``z``."""
        return self.a * z + self.per_feature * known + self.b


def read_model(data: bytes) -> dict:
    """The dict ``Bayes.save`` writes (gzip+marshal, or plain marshal): {"total": n, "d": {"pos": {...}, "neg": {...}}}
    where each class is an ``AddOneProb.__dict__`` ({"d": counts, "total": sum, "none": 1})."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return marshal.loads(data)


def model_dict(bayes: "Bayes") -> dict:
    """A snownlp ``Bayes`` as the dict its ``save`` writes."""
    return {"total": bayes.total, "d": {k: dict(v.__dict__) for k, v in bayes.d.items()}}


def load_bayes(data: bytes) -> "Bayes":
    """A snownlp ``Bayes`` from model bytes (imports snownlp: ~450 MB of its own models, so training only)."""
    from snownlp.classification.bayes import Bayes
    from snownlp.utils.frequency import AddOneProb

    d = read_model(data)
    bayes = Bayes()
    bayes.total = d["total"]
    for k, v in d["d"].items():  # same as Bayes.load
        bayes.d[k] = AddOneProb()
        bayes.d[k].__dict__ = v
    return bayes


def log_likelihood_ratios(model: dict) -> tuple[dict[str, float], float]:
    """Per-feature log P(w|pos) - log P(w|neg) over the vocabulary (``AddOneProb.freq`` arithmetic), and
    snownlp's log prior ratio (``Bayes.classify`` uses class token totals as the prior)."""
    pos, neg = model["d"]["pos"], model["d"]["neg"]
    pc, nc = pos["d"], neg["d"]
    tp, tn = pos["total"], neg["total"]
    pnone, nnone = pos.get("none", 1), neg.get("none", 1)
    log_tn_tp = math.log(tn) - math.log(tp)
    log = math.log
    llr = {w: log(pc.get(w, pnone)) - log(nc.get(w, nnone)) + log_tn_tp for w in pc.keys() | nc.keys()}
    return llr, log(tp) - log(tn)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class SentimentResult:
    score: float
    label: Label


class BayesSentiment:
    """The lingting model: snownlp Bayes + calibration, scoring token features from plain dicts."""

    name = "lingting"

    def __init__(self, model: dict, calibration: Calibration) -> None:
        """``model``: the dict a snownlp ``Bayes.save`` writes (see ``read_model`` / ``model_dict``)."""
        self.calibration = calibration
        self.feature_config = calibration.feature_config
        self.lexicon = Lexicon.shipped() if self.feature_config.lexicon else None
        self.llr, self.snownlp_prior = log_likelihood_ratios(model)
        self.total = model["total"]
        self.bayes: "Bayes | None" = None  # set by training: the snownlp Bayes to save

    @classmethod
    def from_bayes(cls, bayes: "Bayes", calibration: Calibration) -> "BayesSentiment":
        return cls(model_dict(bayes), calibration)

    @classmethod
    def load(cls, model_bytes: bytes, calibration_json: str) -> "BayesSentiment":
        return cls(read_model(model_bytes), Calibration(**json.loads(calibration_json)))

    @classmethod
    def shipped(cls) -> "BayesSentiment":
        """The model shipped in processors/resources (trained on both review corpora, all rows)."""
        return cls.from_dir(resources.files("processors.resources"))

    @classmethod
    def from_dir(cls, directory: "Path | Traversable") -> "BayesSentiment":
        """The model a ``lingting train-sentiment --out DIRECTORY`` wrote (a Path or an importlib resource)."""
        return cls.load((directory / DEFAULT_MODEL).read_bytes(),
                        (directory / (DEFAULT_MODEL + ".json")).read_text("utf-8"))

    def features(self, raw_tokens: Sequence[str]) -> list[str]:
        return features(raw_tokens, self.feature_config, self.lexicon)

    def raw_llr(self, feats: Iterable[str]) -> tuple[float, int]:
        """Sum of log-likelihood ratios of the known features, and how many were known."""
        llr = self.llr
        z = 0.0
        known = 0
        for f in feats:
            d = llr.get(f)
            if d is not None:
                z += d
                known += 1
        return z, known

    def label(self, score: float) -> Label:
        c = self.calibration
        if score > c.neutral_high:
            return "positive"
        if score < c.neutral_low:
            return "negative"
        return "neutral"

    def score_tokens(self, raw_tokens: Sequence[str], emoticons: tuple[int, int] = (0, 0)) -> SentimentResult:
        """Sentiment of one text from its raw tokens and (positive, negative) emoticon counts."""
        z, known = self.raw_llr(self.features(raw_tokens))
        pos_emo, neg_emo = emoticons
        if not known and not (pos_emo or neg_emo):
            return SentimentResult(0.5, "neutral")  # no evidence either way
        c = self.calibration
        logit = c.logit(z, known) if known else 0.0
        logit += c.emoticon_weight * (min(pos_emo, 3) - min(neg_emo, 3))
        score = _sigmoid(logit)
        return SentimentResult(score, self.label(score))


class SnowNLPSentiment:
    """snownlp's default model on the normalised text (``SnowNLP(text).sentiments``), for comparison."""

    name = "snownlp"

    def __init__(self, neutral_low: float = 0.35, neutral_high: float = 0.65) -> None:
        from snownlp import sentiment as snownlp_sentiment

        self._classifier = snownlp_sentiment.classifier  # loads snownlp's model once
        self.neutral_low, self.neutral_high = neutral_low, neutral_high

    def score_text(self, text: str) -> SentimentResult:
        if not text.strip():
            return SentimentResult(0.5, "neutral")
        try:
            score = float(self._classifier.classify(text))
        except Exception:  # snownlp can fail on odd input; a defined result beats a crash
            return SentimentResult(0.5, "neutral")
        score = min(1.0, max(0.0, score))
        label: Label = "positive" if score > self.neutral_high else "negative" if score < self.neutral_low else "neutral"
        return SentimentResult(score, label)
