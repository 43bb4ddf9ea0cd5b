"""Brand rules (the ``brands:`` section of the config) and the matcher the worker runs on every post.

Semantics (docs/brand-rules.md has the user's version):

- Every term (name, alias, product, exclusion, query word) is folded like post text: NFKC, traditional →
  simplified, lower case, runs of spaces → one space. Posts are lower-cased again here, so ``Apple`` matches
  ``APPLE`` whether or not the normaliser did it.
- Chinese terms are substrings. A term whose first/last character is a Latin letter or digit must not continue a
  Latin word / number there: ``mi`` does not match ``family``, ``mate6`` does not match ``mate60``, but ``mi``
  matches ``mi10`` and ``买iphone了`` matches ``iphone``.
- No ``query``: the post matches when the name, an alias or a product occurs and that occurrence is not vetoed.
- With ``query``: the query alone decides (name/aliases do not match by themselves); NOT and exclusions veto.
- An exclusion that contains one of the brand's own words (小米粥 contains 小米) vetoes only the occurrences it
  overlaps: "小米粥真好喝，小米手机也不错" still matches via the second 小米. An exclusion that contains none of
  them (招聘) is a context rule: it vetoes the whole post.

Speed: all terms of all brands live in one Aho-Corasick automaton (pyahocorasick, C); a post is scanned once,
whatever the number of brands and aliases, and only brands with a hit are evaluated. ``bench/brands.py`` measures
it against a compiled-regex scanner (the fallback when pyahocorasick is missing) and the naive loop.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from processors.normalize import to_simplified
from processors.query import Query, QuerySyntaxError, Span, SpanIndex, parse_query
from schemas.errors import RuleError

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_SPACE_RUN = re.compile(r"\s+")


def fold_term(term: str) -> str:
    """A configured word in the form it is searched for in normalised, lower-cased post text."""
    return _SPACE_RUN.sub(" ", to_simplified(unicodedata.normalize("NFKC", term)).lower()).strip()


class BrandRule(BaseModel):
    """One brand: what counts as a mention of it, what does not, and whom it is compared with."""

    model_config = ConfigDict(extra="forbid")

    name: Phrase = Field(description="Brand name as shown in alerts and dashboards; always matches (without query).")
    keywords: list[Phrase] = Field(
        default_factory=list,
        validation_alias=AliasChoices("keywords", "aliases"),
        description="Aliases (YAML: aliases or keywords), e.g. 捞捞 for 海底捞.",
    )
    exclude: list[Phrase] = Field(
        default_factory=list,
        description="Phrases that veto a mention (小米粥 for 小米) or, when they contain "
        "none of the brand's words, the whole post (招聘).",
    )
    products: list[Phrase] = Field(default_factory=list, description="Product names that count as the brand.")
    query: str | None = Field(
        default=None,
        description='Boolean query (AND OR NOT NEAR/n, "phrases", ( )); '
        "when set, it alone decides whether a post matches.",
    )
    competitors: list[Phrase] = Field(
        default_factory=list, description="Names of other configured brands (share of voice)."
    )
    detection: dict[str, Any] = Field(default_factory=dict, description="Overrides of the detection settings.")

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            parse_query(value, fold_term)
        except QuerySyntaxError as err:
            raise ValueError(_query_error_text(info.data.get("name", "?"), err)) from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> BrandRule:
        own = {fold_term(t): t for t in self.dictionary_terms()}
        for phrase in self.exclude:
            if fold_term(phrase) in own:
                raise ValueError(
                    f"brand {self.name!r}: exclude {phrase!r} is the brand's own name/alias/product, "
                    "so it would veto every mention; exclude a longer phrase (e.g. 小米粥 for 小米)"
                )
        if self.name in self.competitors:
            raise ValueError(f"brand {self.name!r} lists itself in competitors")
        return self

    def dictionary_terms(self) -> list[str]:
        """Name, aliases and products (simplified, NFKC, case kept): words the segmenter must keep whole."""
        terms = (
            to_simplified(unicodedata.normalize("NFKC", t)).strip() for t in (self.name, *self.keywords, *self.products)
        )
        return list(dict.fromkeys(t for t in terms if t))

    def parsed_query(self) -> Query | None:
        """The compiled query (raises QuerySyntaxError); None when the rule has none."""
        return None if self.query is None else parse_query(self.query, fold_term)


def _query_error_text(brand: str, err: QuerySyntaxError) -> str:
    return f"brand {brand!r}: query error at column {err.column}: {err.reason}\n{err.caret_lines()}"


def validate_rules(rules: Sequence[BrandRule]) -> None:
    """Cross-rule checks (unique names, competitors exist) and query compilation; raise RuleError naming the
    brand and its key. The Settings model can call this so ``load_settings`` fails early."""
    names = [r.name for r in rules]
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise RuleError(f"brands[{i}].name: brand {rule.name!r} is configured twice")
        seen.add(rule.name)
    for i, rule in enumerate(rules):
        for j, competitor in enumerate(rule.competitors):
            if competitor == rule.name:
                raise RuleError(f"brands[{i}].competitors[{j}]: brand {rule.name!r} lists itself as a competitor")
            if competitor not in seen:
                raise RuleError(
                    f"brands[{i}].competitors[{j}]: brand {rule.name!r} names competitor "
                    f"{competitor!r}, which is not a configured brand (configured: {', '.join(names)})"
                )
        try:
            rule.parsed_query()
        except QuerySyntaxError as err:
            raise RuleError(f"brands[{i}].query: {_query_error_text(rule.name, err)}") from None


# ---------------------------------------------------------------------------------------------------- term index


class TermIndex(Protocol):
    """Finds every occurrence, overlapping ones included, of a fixed set of terms."""

    def find(self, text: str) -> Iterable[tuple[int, int, int]]:  # (start, end, term id)
        ...


class AhoCorasickIndex:
    """All terms in one pyahocorasick automaton: one C pass over the post."""

    def __init__(self, terms: Sequence[str]) -> None:
        import ahocorasick

        self._automaton = ahocorasick.Automaton()
        for tid, term in enumerate(terms):
            self._automaton.add_word(term, (tid, len(term) - 1))
        if terms:
            self._automaton.make_automaton()
        self._empty = not terms

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self._empty:
            return []
        return [(last - span, last + 1, tid) for last, (tid, span) in self._automaton.iter(text)]


class RegexIndex:
    """Pure-Python fallback: one compiled character class finds positions where some term can start, then the
    terms starting with that character are checked with ``startswith`` (overlaps included)."""

    def __init__(self, terms: Sequence[str]) -> None:
        self._by_first: dict[str, list[tuple[str, int]]] = {}
        for tid, term in sorted(enumerate(terms), key=lambda x: -len(x[1])):
            self._by_first.setdefault(term[0], []).append((term, tid))
        chars = "".join(sorted(self._by_first))
        self._starts = re.compile(f"[{re.escape(chars)}]") if chars else None

    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        if self._starts is None:
            return
        by_first = self._by_first
        for m in self._starts.finditer(text):
            p = m.start()
            for term, tid in by_first[text[p]]:
                if text.startswith(term, p):
                    yield p, p + len(term), tid


def _default_index(terms: Sequence[str]) -> TermIndex:
    try:
        return AhoCorasickIndex(terms)
    except ImportError:  # pragma: no cover - pyahocorasick is a dependency; keep working without it
        return RegexIndex(terms)


def _kind(ch: str) -> int:
    """1 for an ASCII letter, 2 for a digit, 0 otherwise (on lower-cased text)."""
    if "a" <= ch <= "z":
        return 1
    if "0" <= ch <= "9":
        return 2
    return 0


# ---------------------------------------------------------------------------------------------------- matcher


@dataclass(frozen=True)
class _CompiledBrand:
    name: str
    positive: tuple[int, ...]  # name/aliases/products (no query) or query words: term ids
    query: Query | None
    query_ids: dict[str, int]  # folded query word → term id
    masking: tuple[int, ...]  # exclusions that veto only the occurrences they overlap
    vetoing: tuple[int, ...]  # exclusions that veto the whole post

    def matches(self, hits: dict[int, list[Span]]) -> bool:
        for tid in self.vetoing:
            if tid in hits:
                return False
        masked = [s for tid in self.masking for s in hits.get(tid, ())]
        masks = SpanIndex(masked) if masked else None

        def live(tid: int) -> list[Span]:
            spans = hits.get(tid)
            if not spans:
                return []
            if masks is not None:
                return [(a, b) for a, b in spans if masks.partner(a, b, -1) is None]
            return spans

        if self.query is None:
            return any(live(tid) for tid in self.positive)
        ids = self.query_ids
        return self.query.evaluate(lambda term: live(ids[term]))


class BrandMatcher:
    """Which configured brands a normalised post mentions. Build once (compiles every rule); ``match`` is pure CPU."""

    def __init__(
        self, rules: Sequence[BrandRule], *, index: Callable[[Sequence[str]], TermIndex] | None = None
    ) -> None:
        self.rules = list(rules)
        validate_rules(self.rules)
        self._term_ids: dict[str, int] = {}
        self._brands: list[_CompiledBrand] = [self._compile(rule) for rule in self.rules]
        terms = list(self._term_ids)
        self._index: TermIndex = (index or _default_index)(terms)
        # Term ids whose ends need a Latin word-boundary check: id → (kind of first char, kind of last char).
        self._edges: dict[int, tuple[int, int]] = {
            tid: (_kind(t[0]), _kind(t[-1])) for t, tid in self._term_ids.items() if _kind(t[0]) or _kind(t[-1])
        }
        self._triggers: dict[int, list[int]] = {}
        for b, brand in enumerate(self._brands):
            for tid in brand.positive:
                self._triggers.setdefault(tid, []).append(b)

    @property
    def terms(self) -> list[str]:
        """Every distinct folded term the matcher looks for."""
        return list(self._term_ids)

    def _id(self, term: str) -> int:
        return self._term_ids.setdefault(term, len(self._term_ids))

    def _compile(self, rule: BrandRule) -> _CompiledBrand:
        query = rule.parsed_query()
        if query is None:
            words = list(dict.fromkeys(fold_term(t) for t in (rule.name, *rule.keywords, *rule.products)))
        else:
            words = list(query.terms)
        masking: list[int] = []
        vetoing: list[int] = []
        for phrase in dict.fromkeys(fold_term(p) for p in rule.exclude):
            (masking if any(w in phrase for w in words) else vetoing).append(self._id(phrase))
        return _CompiledBrand(
            name=rule.name,
            positive=tuple(dict.fromkeys(self._id(w) for w in words)),
            query=query,
            query_ids={w: self._id(w) for w in words} if query is not None else {},
            masking=tuple(masking),
            vetoing=tuple(vetoing),
        )

    def match(self, text: str) -> list[str]:
        """Names of the brands the post mentions, in config order. ``text`` is normalised post text."""
        if not text or not self._brands:
            return []
        text = text.lower()
        hits: dict[int, list[Span]] = {}
        edges = self._edges
        last = len(text)
        for start, end, tid in self._index.find(text):
            edge = edges.get(tid)
            if edge is not None:
                first_kind, last_kind = edge
                if first_kind and start and _kind(text[start - 1]) == first_kind:
                    continue
                if last_kind and end < last and _kind(text[end]) == last_kind:
                    continue
            spans = hits.get(tid)
            if spans is None:
                hits[tid] = [(start, end)]
            else:
                spans.append((start, end))
        if not hits:
            return []
        triggers = self._triggers
        candidates = {b for tid in hits for b in triggers.get(tid, ())}
        brands = self._brands
        return [brands[b].name for b in sorted(candidates) if brands[b].matches(hits)]
