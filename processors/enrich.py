"""The enrichment chain the worker and ``lingting enrich`` run: normalise → brand match → segment → keywords →
sentiment. Everything heavy (jieba dictionary, brand user words, sentiment model, IDF) loads once in
``Enricher.__init__``; ``enrich`` is pure CPU and never raises on odd text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime

from processors.brands import BrandMatcher, BrandRule
from processors.keywords import KeywordExtractor
from processors.normalize import NormalizedText, normalize, without_emoticons
from processors.segment import Segmenter
from processors.sentiment import LinearSentiment, SnowNLPSentiment, sentiment_input
from schemas.posts import EnrichedPost, RawPost, Sentiment, utc_now

SENTIMENT_MODELS = ("lingting", "snownlp")
KEYWORDS_PER_POST = 5
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def brand_terms(rule: BrandRule) -> list[str]:
    """Words jieba must keep whole for one brand: names, aliases, products."""
    terms = getattr(rule, "dictionary_terms", None)
    if callable(terms):
        return list(terms())
    return [rule.name, *getattr(rule, "keywords", [])]


class Enricher:
    def __init__(
        self,
        brands: Sequence[BrandRule] = (),
        *,
        sentiment_model: str = "lingting",
        lingting_model: LinearSentiment | None = None,
    ) -> None:
        """``lingting_model``: a trained model to use instead of the shipped one (``sentiment_model`` lingting)."""
        if sentiment_model not in SENTIMENT_MODELS:
            raise ValueError(f"sentiment_model must be one of {SENTIMENT_MODELS}, got {sentiment_model!r}")
        self.brands = list(brands)
        self.matcher = BrandMatcher(self.brands)
        self.sentiment_model = sentiment_model
        self._lingting = (lingting_model or LinearSentiment.shipped()) if sentiment_model == "lingting" else None
        self._snownlp = SnowNLPSentiment() if sentiment_model == "snownlp" else None
        # Segment exactly as the model's training data was segmented.
        hmm = bool(self._lingting.decision.trained_on.get("hmm", False)) if self._lingting else False
        self.segmenter = Segmenter((term for rule in self.brands for term in brand_terms(rule)), hmm=hmm)
        self.keywords = KeywordExtractor()

    def analyse(self, text: object) -> dict:
        """The NLP fields of an EnrichedPost for one text (everything but the post's own fields)."""
        norm = normalize(text)
        brands = self.matcher.match(self._match_text(norm))
        # Keywords: a bare repost ("转发微博//@a: ...") has no words of its own: it spreads the quoted words.
        own_words = without_emoticons(norm.text).strip()
        use_quoted = not own_words and not norm.emoticons and bool(norm.quoted)
        codes = norm.quoted_emoticons if use_quoted else norm.emoticons
        if self._lingting is not None:
            inp = sentiment_input(norm, self.segmenter.cut)  # own words and quoted chain, both segmented once
            raw = list(inp.quoted if use_quoted else inp.own)
            sentiment = self._lingting.score(inp)
        else:
            nlp_text = without_emoticons(norm.quoted) if use_quoted else own_words
            raw = self.segmenter.cut(nlp_text)
            assert self._snownlp is not None  # one of the two models is always loaded
            sentiment = self._snownlp.score_text(nlp_text)
        content = self.segmenter.without_hashtag_repeats(self.segmenter.content(raw), norm.hashtags)
        return {
            "brands": brands,
            "clean_text": norm.text,
            "quoted_text": norm.quoted,
            "hashtags": norm.hashtags,
            "mentions": norm.mentions,
            "tokens": content + [f"#{t}#" for t in norm.hashtags] + codes,
            "keywords": self.keywords.extract(content, KEYWORDS_PER_POST),
            "sentiment": Sentiment(score=sentiment.score, label=sentiment.label),
        }

    def enrich(self, post: RawPost, processed_at: datetime | None = None) -> EnrichedPost:
        fields = post.model_dump()
        if _LONE_SURROGATE.search(post.text):  # JSON "\ud800" escapes: unencodable, would break serialising
            fields["text"] = _LONE_SURROGATE.sub("\ufffd", post.text)
        fields.update(self.analyse(post.text), brand=None, processed_at=processed_at or utc_now())
        return EnrichedPost.model_validate(fields)

    def enrich_text(self, text: str, processed_at: datetime | None = None) -> EnrichedPost:
        """Enrich a bare text (CLI, API): platform "text", id = short sha1 of the text."""
        at = processed_at or utc_now()
        raw = text if isinstance(text, str) else str(text)
        digest = hashlib.sha1(raw.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]
        post = RawPost(platform="text", id=digest, text=raw, created_at=at)
        return self.enrich(post, processed_at=at)

    @staticmethod
    def _match_text(norm: NormalizedText) -> str:
        # Own words (hashtag text included), @mentions (a complaint addressed to @海底捞) and the quoted chain.
        return " ".join([norm.text, *norm.mentions, norm.quoted])
