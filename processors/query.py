"""The Boolean query language of brand rules: tokenizer, parser and evaluator (pure; no I/O).

Grammar, loosest binding first (``NEAR`` > ``NOT`` > ``AND`` > ``OR``)::

    query    := or_expr
    or_expr  := and_expr ( ("OR" | "或") and_expr )*
    and_expr := not_expr ( ("AND" | "与") not_expr )*
    not_expr := ("NOT" | "非") not_expr | near_expr
    near_expr:= primary ( ("NEAR/n" | "近/n") primary )*
    primary  := WORD | "phrase" | “phrase” | "(" or_expr ")"        -- full-width （ ） work too

A bare word runs to the next space, parenthesis or quote; a quoted phrase may hold spaces and operator words.
Both are plain substring tests on the normalised post (the caller decides what an occurrence is). Operators are
upper-case (``and`` is an error, not a word: a query like ``a and b`` surely meant ``AND``). Two words without an
operator between them are an error rather than an implicit AND, so ``apple watch`` cannot silently mean
``apple AND watch`` when ``"apple watch"`` was meant.

``A NEAR/n B`` holds when an occurrence of A and one of B (either order) have at most n characters between
them; its operands are words, phrases, OR-groups of those, or other NEARs (a NEAR spans both occurrences).

Every syntax error is a :class:`QuerySyntaxError` with a 1-based character column into the query as written.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

Span = tuple[int, int]  # [start, end) character offsets of one occurrence in the post
Lookup = Callable[[str], Sequence[Span]]  # term → its occurrences in the post (empty when absent)

_OPEN_PARENS = "(（"
_CLOSE_PARENS = ")）"
_QUOTES = {'"': '"', "“": "”"}
_OPERATOR_WORDS = {"AND": "AND", "与": "AND", "OR": "OR", "或": "OR", "NOT": "NOT", "非": "NOT"}
_NEAR = re.compile(r"(?:NEAR|近)/(\d{1,4})")
_NEAR_LIKE = re.compile(r"NEAR(?:\W|\d|$)|(?i:near)/|近/")  # NEAR, NEAR5, NEAR/x, near/5 ...
_SYMBOL_OPERATORS = {"&", "&&", "|", "||", "!", "~", "^", "+", "-", "＆", "｜", "！"}
_DELIMITERS = set(_OPEN_PARENS) | set(_CLOSE_PARENS) | set(_QUOTES)
_OPERATOR_HELP = "use AND, OR, NOT, NEAR/n (or 与, 或, 非, 近/n), upper-case"


class QuerySyntaxError(ValueError):
    """A query that does not parse; ``column`` is 1-based, in characters of ``query``."""

    def __init__(self, reason: str, query: str, column: int) -> None:
        self.reason = reason
        self.query = query
        self.column = max(1, column)
        super().__init__(f"{reason} at column {self.column}")

    def caret_lines(self, indent: str = "    ") -> str:
        """The query and a caret under the offending character (CJK counted as two terminal cells)."""
        pad = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in self.query[: self.column - 1])
        return f"{indent}{self.query}\n{indent}{' ' * pad}^"


# ---------------------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, PHRASE, AND, OR, NOT, NEAR, LPAREN, RPAREN, END
    text: str  # as written (the phrase without its quotes)
    column: int  # 1-based
    distance: int = 0  # NEAR only


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in _OPEN_PARENS:
            tokens.append(Token("LPAREN", c, i + 1))
            i += 1
        elif c in _CLOSE_PARENS:
            tokens.append(Token("RPAREN", c, i + 1))
            i += 1
        elif c in _QUOTES:
            close = query.find(_QUOTES[c], i + 1)
            if close < 0:
                raise QuerySyntaxError(f"unterminated phrase: {c} has no closing {_QUOTES[c]}", query, i + 1)
            phrase = query[i + 1 : close]
            if not phrase.strip():
                raise QuerySyntaxError("empty phrase", query, i + 1)
            tokens.append(Token("PHRASE", phrase, i + 1))
            i = close + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in _DELIMITERS:
                j += 1
            tokens.append(_word_token(query, query[i:j], i + 1))
            i = j
    tokens.append(Token("END", "", n + 1))
    return tokens


def _word_token(query: str, word: str, column: int) -> Token:
    if word in _OPERATOR_WORDS:
        return Token(_OPERATOR_WORDS[word], word, column)
    if m := _NEAR.fullmatch(word):
        return Token("NEAR", word, column, int(m.group(1)))
    if _NEAR_LIKE.match(word):
        raise QuerySyntaxError(
            f"'{word}' is not a valid proximity operator: write NEAR/5 (at most 5 characters apart)", query, column
        )
    if word in _SYMBOL_OPERATORS or (len(word) > 1 and word[0] in "&|!" and word[1] in "&|"):
        raise QuerySyntaxError(f"unknown operator '{word}': {_OPERATOR_HELP}", query, column)
    return Token("WORD", word, column)


# ---------------------------------------------------------------------------------------------------- syntax tree


class Node:
    def evaluate(self, lookup: Lookup) -> bool:
        raise NotImplementedError

    def terms(self) -> Iterator[str]:
        raise NotImplementedError


class SpanNode(Node):
    """A node with positions, usable as an operand of NEAR."""

    def spans(self, lookup: Lookup) -> Sequence[Span]:
        raise NotImplementedError

    def evaluate(self, lookup: Lookup) -> bool:
        return bool(self.spans(lookup))


@dataclass(frozen=True)
class Term(SpanNode):
    text: str  # folded (what is searched for)
    written: str  # as written in the query (for messages)
    phrase: bool
    column: int

    def spans(self, lookup: Lookup) -> Sequence[Span]:
        return lookup(self.text)

    def terms(self) -> Iterator[str]:
        yield self.text


@dataclass(frozen=True)
class Not(Node):
    child: Node

    def evaluate(self, lookup: Lookup) -> bool:
        return not self.child.evaluate(lookup)

    def terms(self) -> Iterator[str]:
        yield from self.child.terms()


@dataclass(frozen=True)
class Group(Node):
    """A node over several operands (AND, OR): its terms are theirs."""

    children: tuple[Node, ...]

    def terms(self) -> Iterator[str]:
        for c in self.children:
            yield from c.terms()


@dataclass(frozen=True)
class And(Group):
    def evaluate(self, lookup: Lookup) -> bool:
        return all(c.evaluate(lookup) for c in self.children)


@dataclass(frozen=True)
class Or(Group):
    def evaluate(self, lookup: Lookup) -> bool:
        return any(c.evaluate(lookup) for c in self.children)


@dataclass(frozen=True)
class SpanOr(Or, SpanNode):
    """An OR of words/phrases: its positions are the union of theirs, so it can stand next to NEAR."""

    def spans(self, lookup: Lookup) -> Sequence[Span]:
        return [s for c in self.children for s in c.spans(lookup)]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Near(SpanNode):
    left: SpanNode
    right: SpanNode
    distance: int

    def spans(self, lookup: Lookup) -> Sequence[Span]:
        left = self.left.spans(lookup)
        if not left:
            return []
        right = self.right.spans(lookup)
        if not right:
            return []
        partners = SpanIndex(right)
        # Each left occurrence pairs with one close right occurrence (so a spam post costs n log n, not n²);
        # the pair's span is what a chained NEAR measures from.
        out = []
        for a, b in left:
            p = partners.partner(a, b, self.distance)
            if p is not None:
                out.append((min(a, p[0]), max(b, p[1])))
        return out

    def terms(self) -> Iterator[str]:
        yield from self.left.terms()
        yield from self.right.terms()


class SpanIndex:
    """Occurrences sorted for O(log n) "is there one within ``gap`` characters of [a, b)?" questions."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self.spans = sorted(spans)
        self.starts = [c for c, _ in self.spans]
        self.best_end: list[int] = []  # index of the largest end among spans[0..i]
        best = -1
        for i, (_, e) in enumerate(self.spans):
            if best < 0 or e > self.spans[best][1]:
                best = i
            self.best_end.append(best)

    def partner(self, a: int, b: int, gap: int) -> Span | None:
        """A span with at most ``gap`` characters strictly between it and [a, b) (``gap=-1``: overlapping it)."""
        k = bisect_left(self.starts, a)
        if k < len(self.spans) and self.starts[k] <= b + gap:  # starts inside or after [a, b)
            return self.spans[k]
        if k:  # starts before a: the one reaching furthest right decides
            c, e = self.spans[self.best_end[k - 1]]
            if e >= a - gap:
                return c, e
        return None


# ---------------------------------------------------------------------------------------------------- parser


@dataclass(frozen=True)
class Query:
    source: str
    root: Node
    terms: tuple[str, ...]  # the distinct folded words and phrases, in order of appearance

    def evaluate(self, lookup: Lookup) -> bool:
        """True when the post whose occurrences ``lookup`` reports satisfies the query."""
        return self.root.evaluate(lookup)


def parse_query(query: str, fold: Callable[[str], str] = str.lower) -> Query:
    """Parse ``query``; ``fold`` maps each word/phrase to the form that is searched for (e.g. lower-case)."""
    if not query or not query.strip():
        raise QuerySyntaxError("empty query", query or "", 1)
    parser = _Parser(query, tokenize(query), fold)
    root = parser.parse()
    if root.evaluate(lambda term: ()):
        raise QuerySyntaxError(
            "the query matches posts that contain none of its words (it is only NOT ...): "
            "add a word to look for, e.g. '海底捞 AND NOT 招聘'",
            query,
            1,
        )
    return Query(query, root, tuple(dict.fromkeys(root.terms())))


class _Parser:
    def __init__(self, query: str, tokens: list[Token], fold: Callable[[str], str]) -> None:
        self.query = query
        self.tokens = tokens
        self.fold = fold
        self.pos = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def error(self, reason: str, token: Token) -> QuerySyntaxError:
        return QuerySyntaxError(reason, self.query, token.column)

    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.tok
        if tok.kind == "RPAREN":
            raise self.error(f"unmatched '{tok.text}': no '(' before it", tok)
        if tok.kind != "END":
            raise self.juxtaposition_error(tok)
        return node

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.tok.kind == "OR":
            self.pos += 1
            children.append(self.and_expr())
        if len(children) == 1:
            return children[0]
        if all(isinstance(c, SpanNode) for c in children):
            return SpanOr(tuple(children))
        return Or(tuple(children))

    def and_expr(self) -> Node:
        children = [self.not_expr()]
        while self.tok.kind == "AND":
            self.pos += 1
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else And(tuple(children))

    def not_expr(self) -> Node:
        if self.tok.kind == "NOT":
            self.pos += 1
            return Not(self.not_expr())
        return self.near_expr()

    def near_expr(self) -> Node:
        node = self.primary()
        while self.tok.kind == "NEAR":
            near = self.tok
            self.pos += 1
            right = self.primary()
            for side, operand in (("left", node), ("right", right)):
                if not isinstance(operand, SpanNode):
                    raise self.error(
                        f"{near.text} needs words, phrases or (A OR B) groups on both sides; the "
                        f"{side} side is an AND/NOT group",
                        near,
                    )
            node = Near(node, right, near.distance)  # type: ignore[arg-type]
        return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("WORD", "PHRASE"):
            self.pos += 1
            folded = self.fold(tok.text)
            if not folded.strip():
                raise self.error(f"'{tok.text}' is empty once normalised", tok)
            return Term(folded, tok.text, tok.kind == "PHRASE", tok.column)
        if tok.kind == "LPAREN":
            self.pos += 1
            if self.tok.kind == "RPAREN":
                raise self.error("empty parentheses", tok)
            node = self.or_expr()
            if self.tok.kind == "END":
                raise self.error(f"unclosed parenthesis: this '{tok.text}' has no matching ')'", tok)
            if self.tok.kind != "RPAREN":
                raise self.juxtaposition_error(self.tok)
            self.pos += 1
            return node
        raise self.missing_operand_error(tok)

    def missing_operand_error(self, tok: Token) -> QuerySyntaxError:
        prev = self.tokens[self.pos - 1] if self.pos > 0 else None
        if tok.kind == "END":
            assert prev is not None  # the empty query is caught before parsing
            if prev.kind == "LPAREN":
                return self.error(f"unclosed parenthesis: this '{prev.text}' has no matching ')'", prev)
            return self.error(f"dangling operator: '{prev.text}' needs a word or phrase after it", prev)
        if tok.kind == "RPAREN":
            if prev is not None and prev.kind in ("AND", "OR", "NOT", "NEAR"):
                return self.error(f"dangling operator: '{prev.text}' needs a word or phrase after it", prev)
            return self.error(f"unmatched '{tok.text}': no '(' before it", tok)
        # A binary operator where a word should be: at the start, after '(' or after another operator.
        if prev is None or prev.kind == "LPAREN":
            return self.error(f"dangling operator: '{tok.text}' needs a word or phrase before it", tok)
        return self.error(f"missing word or phrase between '{prev.text}' and '{tok.text}'", tok)

    def juxtaposition_error(self, tok: Token) -> QuerySyntaxError:
        """Two operands in a row (``a b``, ``a XOR b``, ``a NOT b``, ``a (b)``)."""
        prev = self.tokens[self.pos - 1]
        if tok.kind == "NOT":
            return self.error(f"'{tok.text}' needs AND or OR before it: write '{prev.text} AND NOT ...'", tok)
        if tok.kind == "WORD":
            nxt = self.tokens[self.pos + 1]
            looks_like_operator = tok.text.lower() in ("and", "or", "not", "near") or (
                tok.text.isascii()
                and tok.text.isalpha()
                and tok.text.isupper()
                and nxt.kind in ("WORD", "PHRASE", "LPAREN")
            )
            if looks_like_operator:
                return self.error(f"unknown operator '{tok.text}': {_OPERATOR_HELP}", tok)
        if tok.kind == "LPAREN" or prev.kind == "RPAREN":
            return self.error(f"missing operator before '{tok.text}': join with AND / OR", tok)
        shown = f'"{tok.text}"' if tok.kind == "PHRASE" else tok.text
        return self.error(
            f"missing operator before {shown}: join with AND / OR, or quote a phrase with spaces "
            f'("{prev.text} {tok.text}")',
            tok,
        )
