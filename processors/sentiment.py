"""Sentiment: a linear model (logistic regression) over words, character bigrams and Weibo signals, and a
second one that tells neutral posts from emotional ones.

Run time is pure Python: the model file (``resources/sentiment_lingting.npz``, written by
``processors/train_sentiment.py``) holds the feature names that carry weight and two weight vectors, and
scoring a post sums the weights of its features from one dict. No numpy arithmetic per post, no snownlp import.

What a post contributes (``SentimentInput``, built by ``sentiment_input`` from the normalised post, the same
way in training and in the worker):
- the author's own words: words, negation-scoped words (不好吃 → 不_好吃, up to 2 words, ending at
  punctuation or 但是/不过...), word bigrams and character bigrams within a clause, emoticon codes
  (``e:[怒]``: each code's weight is learned from the Weibo posts) plus the fixed table's polarity
  (``EMO+``/``EMO-``, for codes too rare to learn), lexicon counts (``LEX+``/``LEX-``), intensified lexicon
  words (太差 → ``INT-``), sarcasm markers (呵呵, a positive word in quotes as in 真是太"好"了 → ``SARC``) and
  severe consumer issues (蟑螂, 食物中毒, 维权 → ``SEVERE``);
- the quoted ``//@`` chain: the same features at ``QUOTED_WEIGHT`` (a repost mostly spreads someone
  else's words; the author's own comment decides).
A severe issue word in the author's own words also pushes the log-odds by ``severe_push`` and rules out
``neutral``: a post that found a cockroach in its drink is a complaint, whatever it says about the taste.

Labels: ``P(positive) = sigmoid(polarity)``; ``neutral`` when ``P(neutral) = sigmoid(neutrality)`` is at least
the threshold set on real neutral Weibo posts (out of fold, see the trainer), else positive / negative by
P(positive) >= 0.5. The score a post carries stays P(positive).
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import repeat
from operator import add
from typing import TYPE_CHECKING, Literal

from processors.normalize import EMOTICON_POLARITY, NormalizedText, without_emoticons
from processors.segment import _PUNCT_CACHE, is_punctuation

if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.resources.abc import Traversable
    from pathlib import Path

Label = Literal["positive", "neutral", "negative"]

#: Words that flip the polarity of the next words of the clause (不好吃 → 不 + 不_好吃).
NEGATORS = frozenset(
    "不 没 没有 别 无 未 非 莫 勿 甭 不是 不太 不怎么 不够 不算 不会 不能 不要 不用 并不 并没有 从不 从没 从来不 "
    "从来没 毫不 绝不 决不 一点也不 一点都不 根本不 根本没 再也不 不再 没法 无法 难以".split()
)
#: Clause breaks that end a negation scope (besides punctuation tokens).
SCOPE_BREAKS = frozenset("但 但是 可是 不过 而 却 然而 就是 只是".split())
#: Tokens too frequent and empty to be word features (they still count in character bigrams).
FEATURE_STOP = frozenset("的 了 着 地 得 是 在 我 你 他 她 它 我们 就 也 都 这 那 个 一个 啊 吧 呢 吗 嘛 呀 啦".split())
#: Degree words: a lexicon word right after one counts again as INT+ / INT- (太差, 非常好).
INTENSIFIERS = frozenset("太 很 非常 特别 超 超级 巨 好 真 真是 真是太 极 极其 十分 相当 太过 最 实在 简直 贼".split())
#: Sarcasm markers of Chinese social media (呵呵 is a sneer, not a laugh).
SARCASM_WORDS = frozenset("呵呵 呵呵呵 呵 嗬嗬 真行 服了 醉了 也是醉了 厉害了 好棒棒 真棒棒".split())
#: A short positive word in quotes: 真是太"好"了, “优质”服务.
_QUOTED_WORD = re.compile(r"[\"“「『‘']([^\"”」』’']{1,4})[\"”」』’']")
#: Weight of the quoted repost chain's features relative to the author's own words.
QUOTED_WEIGHT = 0.5

DEFAULT_MODEL = "sentiment_lingting.npz"


@dataclass(frozen=True, slots=True)
class SentimentInput:
    """What the sentiment model reads of one post: raw tokens (punctuation included, it bounds clauses) and
    emoticon codes of the author's own words and of the quoted chain, and the own text (for quote marks)."""

    own: Sequence[str] = ()
    own_codes: Sequence[str] = ()
    quoted: Sequence[str] = ()
    quoted_codes: Sequence[str] = ()
    own_text: str = ""


def sentiment_input(norm: NormalizedText, cut: Callable[[str], list[str]]) -> SentimentInput:
    """The model's view of a normalised post; ``cut`` is the worker's segmenter (``Segmenter.cut``)."""
    own_text = without_emoticons(norm.text).strip()
    quoted_text = without_emoticons(norm.quoted).strip()
    return SentimentInput(
        own=cut(own_text) if own_text else [],
        own_codes=norm.emoticons,
        quoted=cut(quoted_text) if quoted_text else [],
        quoted_codes=norm.quoted_emoticons,
        own_text=own_text,
    )


#: Severe consumer issues (own curation, food safety and rights): in the author's own words they decide.
SEVERE_WORDS = frozenset(
    "蟑螂 老鼠 苍蝇 虫子 蛆 头发丝 异物 食物中毒 中毒 拉肚子 腹泻 上吐下泻 变质 发霉 过期 地沟油 食品安全问题 "
    "维权 投诉 举报 曝光 欺诈 诈骗 骗子 黑心 315 退款无门 致癌 死亡 身亡 致死 爆炸 起火".split()
)
#: Most lexicon, intensifier and sarcasm features a text can carry (distinct names, so binary counting counts them).
_COUNTED = 4


def features(
    tokens: Sequence[str], codes: Sequence[str] = (), text: str = "", lexicon: Lexicon | None = None
) -> list[str]:
    """Feature names of one part of a post (own words or quoted chain), each once (binary features)."""
    # The worker's hottest loop: set lookups and cache hits are inlined (see is_punctuation, Lexicon.polarity).
    out: list[str] = []
    append = out.append
    lex_pos = lex_neg = int_pos = int_neg = sarcasm = severe = 0
    negate = 0
    prev: str | None = None
    clause: list[str] = []
    punct = _PUNCT_CACHE
    lex_cache = lexicon._cache if lexicon is not None else None
    for tok in tokens:
        is_punct = punct.get(tok)
        if is_punct is None:
            is_punct = is_punctuation(tok)
        if is_punct or tok in SCOPE_BREAKS:
            negate = 0
            prev = None
            if not is_punct:
                append(tok)
            if clause:
                _char_bigrams("".join(clause), out)
                clause = []
            continue
        clause.append(tok)
        if tok in FEATURE_STOP:
            continue
        if tok in SARCASM_WORDS:
            sarcasm += 1
        if tok in SEVERE_WORDS:
            severe += 1
        if tok in NEGATORS:
            append(tok)
            negate = 2
            if prev is not None:
                append(prev + "+" + tok)
            prev = tok
            continue
        polarity: int | None
        if lex_cache is None:
            polarity = 0
        else:
            polarity = lex_cache.get(tok)
            if polarity is None:
                polarity = lexicon.polarity(tok)  # type: ignore[union-attr]
        if negate:
            append("不_" + tok)
            negate -= 1
            polarity = -polarity
        else:
            append(tok)
        if polarity:
            if polarity > 0:
                lex_pos += 1
            else:
                lex_neg += 1
            if prev in INTENSIFIERS:
                int_pos, int_neg = int_pos + (polarity > 0), int_neg + (polarity < 0)
        if prev is not None:
            append(prev + "+" + tok)
        prev = tok
    if clause:
        _char_bigrams("".join(clause), out)
    emo_pos = emo_neg = 0
    for code in codes:
        append("e:" + code)
        p = EMOTICON_POLARITY.get(code[1:-1].lower(), 0)
        emo_pos += p > 0
        emo_neg += p < 0
    if text and lexicon is not None and ('"' in text or "“" in text or "「" in text or "'" in text or "‘" in text):
        sarcasm += sum(lexicon.polarity(m) > 0 for m in _QUOTED_WORD.findall(text))
    for names, count in zip(
        _COUNTED_NAMES, (lex_pos, lex_neg, int_pos, int_neg, emo_pos, emo_neg, sarcasm, severe), strict=False
    ):
        if count:
            out.extend(names[:count])
    return list(dict.fromkeys(out))


#: LEX+, LEX+2 ... up to ``_COUNTED`` names per counted feature (in the order ``features`` counts them).
_COUNTED_NAMES = tuple(
    tuple(name if i == 0 else f"{name}{i + 1}" for i in range(_COUNTED))
    for name in ("LEX+", "LEX-", "INT+", "INT-", "EMO+", "EMO-", "SARC", "SEVERE")
)


def _char_bigrams(text: str, out: list[str]) -> None:
    """``c:`` + every two adjacent characters, built by C-level maps (no Python loop per bigram)."""
    if len(text) > 1:
        out.extend(map(add, map(add, repeat("c:"), text), text[1:]))


def severe_hits(tokens: Sequence[str]) -> int:
    """Severe issue words among ``tokens`` (the author's own words)."""
    return sum(1 for t in tokens if t in SEVERE_WORDS)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class SentimentResult:
    score: float
    label: Label


@dataclass(slots=True)
class Decision:
    """How the two linear scores become a label (set by the trainer, stored with the model)."""

    polarity_bias: float = 0.0
    neutral_bias: float = 0.0
    neutral_threshold: float = 0.5  # P(neutral) at or above it → neutral
    severe_push: float = 2.0  # log-odds per severe issue word in the own words (up to 2)
    # a post the polarity model is this sure of (|log-odds|) is emotional, whatever the neutral model says:
    # "測試一下…等了兩小時😡 [怒]" reads neutral by its words and furious by its emoticons
    decisive_log_odds: float = 3.0
    quoted_weight: float = QUOTED_WEIGHT
    trained_on: dict = field(default_factory=dict)

    def is_neutral(self, z: float, n: float, severe: int) -> bool:
        """The neutral rule, in one place for the worker, the trainer's threshold and the bench."""
        return not severe and abs(z) < self.decisive_log_odds and _sigmoid(n) >= self.neutral_threshold

    def decide(self, z: float, n: float, severe: int) -> SentimentResult:
        """(polarity log-odds after the severe-issue rule, neutrality log-odds, severe hits) → score and label."""
        p = _sigmoid(z)
        if self.is_neutral(z, n, severe):
            return SentimentResult(p, "neutral")
        return SentimentResult(p, "positive" if p >= 0.5 else "negative")


class LinearSentiment:
    """The lingting model: two weight vectors over one feature vocabulary, scored from plain Python dicts."""

    name = "lingting"

    def __init__(
        self, vocabulary: Sequence[str], polarity: Sequence[float], neutrality: Sequence[float], decision: Decision
    ) -> None:
        if not (len(vocabulary) == len(polarity) == len(neutrality)):
            raise ValueError("model: vocabulary and weights differ in length")
        self.decision = decision
        # feature → complex(polarity weight, neutrality weight), in vocabulary order, and nothing else: scoring a
        # post is one dict lookup per feature and one C-level sum (the dict is far larger than the CPU caches:
        # each lookup is memory-bound); a second copy of the weights would only take the worker's memory.
        self._weights = dict(zip(vocabulary, map(complex, polarity, neutrality), strict=True))
        self.lexicon = Lexicon.shipped()

    def __len__(self) -> int:
        """Features in the vocabulary."""
        return len(self._weights)

    @property
    def vocabulary(self) -> list[str]:
        return list(self._weights)

    # The file: a zip (numpy's .npz layout) of the vocabulary as UTF-8 lines, the two weight vectors as
    # little-endian float32 and the decision as JSON; read without numpy so that loading stays ~0.2 s.
    def to_bytes(self) -> bytes:
        import numpy as np  # training only

        vocabulary = self.vocabulary
        weights = list(self._weights.values())
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in (
                ("vocabulary.txt", "\n".join(vocabulary).encode("utf-8")),
                ("polarity.f32", np.asarray([w.real for w in weights], "<f4").tobytes()),
                ("neutrality.f32", np.asarray([w.imag for w in weights], "<f4").tobytes()),
                (
                    "decision.json",
                    json.dumps(_asdict(self.decision), ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"),
                ),
            ):
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed: a retrain is byte-identical
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearSentiment:
        from array import array

        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            vocabulary = zf.read("vocabulary.txt").decode("utf-8").split("\n")
            weights = []
            for name in ("polarity.f32", "neutrality.f32"):
                a = array("f")  # read as is: a list of Python floats would leave its memory behind
                a.frombytes(zf.read(name))
                if a.itemsize != 4:
                    raise ValueError("float32 weights expected")
                weights.append(a)
            decision = Decision(**json.loads(zf.read("decision.json")))
        return cls(vocabulary, weights[0], weights[1], decision)

    @classmethod
    def shipped(cls) -> LinearSentiment:
        """The model shipped in processors/resources."""
        return cls.from_dir(resources.files("processors.resources"))

    @classmethod
    def from_dir(cls, directory: Path | Traversable) -> LinearSentiment:
        """The model a ``lingting train-sentiment --out DIRECTORY`` wrote (a Path or an importlib resource)."""
        return cls.from_bytes((directory / DEFAULT_MODEL).read_bytes())

    def feature_lists(self, inp: SentimentInput) -> tuple[list[str], list[str]]:
        """(own features, quoted features) of one post."""
        own = features(inp.own, inp.own_codes, inp.own_text, self.lexicon)
        quoted = features(inp.quoted, inp.quoted_codes, "", self.lexicon) if inp.quoted or inp.quoted_codes else []
        return own, quoted

    def raw(self, inp: SentimentInput) -> tuple[float, float, int]:
        """(polarity log-odds, neutrality log-odds, known features) before the severe-issue rule."""
        return self._raw(*self.feature_lists(inp))

    def raw_pair(self, pair: tuple[list[str], list[str]]) -> tuple[float, float, int]:
        """(polarity log-odds after the severe-issue rule, neutrality log-odds, severe hits) of (own, quoted)
        features: what the trainer's neutral threshold is set on."""
        z, n, _ = self._raw(*pair)
        severe = min(sum(1 for f in pair[0] if f.startswith("SEVERE")), 2)
        return z - self.decision.severe_push * severe, n, severe

    def _raw(self, own: list[str], quoted: list[str]) -> tuple[float, float, int]:
        d = self.decision
        weights = list(map(self._weights.get, own))  # None: not in the vocabulary
        known = len(weights) - weights.count(None)
        total = sum(filter(None, weights), complex(d.polarity_bias, d.neutral_bias))
        if quoted:
            weights = list(map(self._weights.get, quoted))
            known += len(weights) - weights.count(None)
            total += d.quoted_weight * sum(filter(None, weights), 0j)
        return total.real, total.imag, known

    def score(self, inp: SentimentInput) -> SentimentResult:
        """Sentiment of one post."""
        z, n, known = self.raw(inp)
        if not known:
            return SentimentResult(0.5, "neutral")  # no evidence either way
        severe = min(severe_hits(inp.own), 2)
        if severe:
            z -= self.decision.severe_push * severe
        return self.decision.decide(z, n, severe)


def _asdict(decision: Decision) -> dict:
    return {name: getattr(decision, name) for name in Decision.__slots__}


class Lexicon:
    """Generic sentiment words (``resources/sentiment_lexicon.txt``) → +1 / -1. A token that is not a lexicon
    word but contains one (真不错, 太慢) takes its polarity, flipped when the token starts with a negator (不干净)."""

    def __init__(self, words: dict[str, int]) -> None:
        self.words = words
        self.long_words = sorted((w for w in words if len(w) >= 2), key=len, reverse=True)
        self._rank = {w: i for i, w in enumerate(self.long_words)}
        self._cache: dict[str, int] = {}

    @classmethod
    def shipped(cls) -> Lexicon:
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
                r = rank.get(token[i : i + n])
                if r is not None and (best is None or r < best):
                    best = r
            if best is not None:
                return self.long_words[best]
        return None


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
        label: Label = (
            "positive" if score > self.neutral_high else "negative" if score < self.neutral_low else "neutral"
        )
        return SentimentResult(score, label)
