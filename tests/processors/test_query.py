"""The Boolean query language of brand rules: precedence, phrases, NEAR, Chinese operators and syntax errors."""

from __future__ import annotations

import pytest

from processors.query import And, Near, Not, Or, QuerySyntaxError, SpanOr, Term, parse_query, tokenize


def occurrences(text: str):
    """A lookup for the evaluator: every (overlapping) occurrence of a term in ``text``."""

    def lookup(term: str) -> list[tuple[int, int]]:
        out, i = [], text.find(term)
        while i >= 0:
            out.append((i, i + len(term)))
            i = text.find(term, i + 1)
        return out

    return lookup


def holds(query: str, text: str) -> bool:
    return parse_query(query).evaluate(occurrences(text))


def error(query: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    return info.value


# ------------------------------------------------------------------------------------------------ structure


def test_precedence_not_binds_tighter_than_and_tighter_than_or() -> None:
    root = parse_query("海底捞 OR 捞捞 AND 老鼠 AND NOT 招聘").root
    assert isinstance(root, Or)
    first, second = root.children
    assert first == Term("海底捞", "海底捞", False, 1)
    assert isinstance(second, And)
    assert [type(c) for c in second.children] == [Term, Term, Not]


def test_parentheses_override_precedence() -> None:
    root = parse_query("(海底捞 OR 捞捞) AND 老鼠").root
    assert isinstance(root, And)
    assert isinstance(root.children[0], SpanOr)


def test_terms_are_folded_and_deduplicated_in_order() -> None:
    q = parse_query('Apple OR "APPLE" OR iPhone AND NOT 苹果汁')
    assert q.terms == ("apple", "iphone", "苹果汁")


def test_tokenizer_columns_are_one_based_characters() -> None:
    tokens = tokenize('(海底捞 OR 捞捞) AND "后厨 老鼠"')
    assert [(t.kind, t.column) for t in tokens] == [
        ("LPAREN", 1),
        ("WORD", 2),
        ("OR", 6),
        ("WORD", 9),
        ("RPAREN", 11),
        ("AND", 13),
        ("PHRASE", 17),
        ("END", 24),
    ]
    assert tokens[6].text == "后厨 老鼠"


# ------------------------------------------------------------------------------------------------ evaluation


@pytest.mark.parametrize(
    "text,expected",
    [
        ("海底捞后厨有老鼠[怒]", True),
        ("捞捞家的卫生堪忧 #海底捞#", True),
        ("海底捞招聘：后厨帮工，卫生好", False),  # NOT vetoes
        ("海底捞服务真好😊", False),  # no issue word
        ("老鼠药哪里买", False),  # no brand word
    ],
)
def test_crisis_query(text: str, expected: bool) -> None:
    assert holds('(海底捞 OR 捞捞) AND (老鼠 OR 卫生 OR "后厨") AND NOT 招聘', text) is expected


def test_or_and_precedence_changes_result() -> None:
    text = "海底捞真好吃"
    assert holds("海底捞 OR 捞捞 AND 老鼠", text) is True  # 海底捞 OR (捞捞 AND 老鼠)
    assert holds("(海底捞 OR 捞捞) AND 老鼠", text) is False


def test_double_not_and_not_of_group() -> None:
    assert holds("蒙牛 AND NOT NOT 牛奶", "蒙牛牛奶") is True
    assert holds("蒙牛 AND NOT (招聘 OR 广告)", "蒙牛招聘会") is False
    assert holds("蒙牛 AND NOT (招聘 OR 广告)", "蒙牛又出事了") is True


def test_phrase_with_spaces_and_operator_words_is_literal() -> None:
    assert holds('"apple watch" OR "AND OR"', "新买的apple watch 😍") is True
    assert holds('"apple watch"', "apple 的 watch") is False
    assert holds('"and or"', "x and or y") is True


def test_chinese_operators_and_quotes_and_fullwidth_parens() -> None:
    q = "（海底捞 或 捞捞） 与 “后厨” 非 招聘"
    with pytest.raises(QuerySyntaxError):  # 非 needs 与/或 before it, like NOT
        parse_query(q)
    q = "（海底捞 或 捞捞） 与 “后厨” 与 非 招聘"
    assert holds(q, "捞捞后厨曝光") is True
    assert holds(q, "捞捞后厨招聘") is False


@pytest.mark.parametrize(
    "text,expected",
    [
        ("蒙牛被检出致癌物", True),  # gap 3: 被检出
        ("致癌物竟是蒙牛", True),  # either order, gap 3
        ("蒙牛的牛奶被检出致癌物", False),  # gap 6
        ("蒙牛致癌", True),  # adjacent: gap 0
    ],
)
def test_near_counts_characters_between_occurrences(text: str, expected: bool) -> None:
    assert holds("蒙牛 NEAR/3 致癌", text) is expected


def test_near_uses_any_pair_of_occurrences() -> None:
    # The first 蒙牛 is far from 致癌, the second is close.
    assert holds("蒙牛 NEAR/2 致癌", "蒙牛今年新品很多，不过网传蒙牛致癌") is True


def test_near_with_or_groups_and_chinese_form() -> None:
    q = "(蒙牛 OR 特仑苏) 近/4 (致癌 OR 黄曲霉)"
    assert holds(q, "特仑苏检出黄曲霉") is True
    assert holds(q, "特仑苏很好喝，隔壁那个牌子检出黄曲霉") is False
    assert isinstance(parse_query(q).root, Near)


def test_near_binds_tighter_than_not_and_and() -> None:
    q = "蒙牛 NEAR/2 致癌 AND NOT 辟谣"
    assert holds(q, "蒙牛被指致癌") is True
    assert holds(q, "蒙牛被指致癌？官方辟谣") is False
    assert holds("NOT 蒙牛 NEAR/1 致癌 AND 牛奶", "蒙牛牛奶，致癌是谣言") is True  # (NOT (蒙牛 NEAR 致癌)) AND 牛奶


def test_chained_near_spans_both_occurrences() -> None:
    q = "海底捞 NEAR/2 后厨 NEAR/2 老鼠"
    assert holds(q, "海底捞的后厨有老鼠") is True
    assert holds(q, "海底捞的后厨很干净，没有看到老鼠") is False


# ------------------------------------------------------------------------------------------------ errors


def test_empty_query() -> None:
    for q in ("", "   ", "\u3000"):
        err = error(q)
        assert err.reason == "empty query" and err.column == 1


def test_unbalanced_parentheses_point_at_the_culprit() -> None:
    err = error("(海底捞 OR 捞捞) AND (老鼠 OR 卫生")
    assert err.column == 17 and "unclosed parenthesis" in err.reason
    err = error("海底捞 OR 捞捞) AND 老鼠")
    assert err.column == 10 and "unmatched ')'" in err.reason
    assert error("((海底捞)").column == 1


def test_dangling_operators() -> None:
    err = error("海底捞 AND")
    assert err.column == 5 and "dangling operator" in err.reason and "'AND'" in err.reason
    err = error("OR 海底捞")
    assert err.column == 1 and "before it" in err.reason
    err = error("海底捞 AND (老鼠 OR)")
    assert err.column == 13 and "'OR'" in err.reason
    err = error("海底捞 AND NOT")
    assert err.column == 9 and "'NOT'" in err.reason
    err = error("海底捞 AND OR 老鼠")
    assert err.column == 9 and "between 'AND' and 'OR'" in err.reason


@pytest.mark.parametrize(
    "query,column,word",
    [
        ("海底捞 XOR 老鼠", 5, "XOR"),
        ("海底捞 and 老鼠", 5, "and"),
        ("海底捞 && 老鼠", 5, "&&"),
        ("海底捞 || 捞捞", 5, "||"),
        ("海底捞 AND ! 招聘", 9, "!"),
    ],
)
def test_unknown_operators(query: str, column: int, word: str) -> None:
    err = error(query)
    assert err.column == column
    assert err.reason.startswith(f"unknown operator '{word}'")


@pytest.mark.parametrize(
    "query,column", [("海底捞 NEAR 老鼠", 5), ("海底捞 NEAR/x 老鼠", 5), ("海底捞 near/5 老鼠", 5)]
)
def test_malformed_near(query: str, column: int) -> None:
    err = error(query)
    assert err.column == column and "NEAR/5" in err.reason


def test_near_rejects_and_groups() -> None:
    err = error("(海底捞 AND 捞捞) NEAR/3 老鼠")
    assert err.column == 14 and "left side" in err.reason


def test_missing_operator_between_words_suggests_quotes() -> None:
    err = error("apple watch OR 苹果手表")
    assert err.column == 7 and '"apple watch"' in err.reason
    err = error("海底捞 NOT 招聘")
    assert "AND NOT" in err.reason and err.column == 5


def test_unterminated_and_empty_phrase() -> None:
    err = error('海底捞 AND "后厨')
    assert err.column == 9 and "unterminated" in err.reason
    err = error('海底捞 AND ""')
    assert err.column == 9 and "empty phrase" in err.reason


def test_query_of_only_negations_is_refused() -> None:
    err = error("NOT 招聘")
    assert "none of its words" in err.reason
    err = error("NOT 招聘 OR NOT 广告")
    assert "none of its words" in err.reason
    err = error("蒙牛 OR NOT 招聘")  # matches every post without 招聘
    assert "none of its words" in err.reason
    assert holds("蒙牛 AND NOT 招聘", "蒙牛") is True


def test_caret_line_accounts_for_wide_characters() -> None:
    err = error("海底捞 AND (老鼠 OR 卫生")
    lines = err.caret_lines(indent="").splitlines()
    assert lines[0] == "海底捞 AND (老鼠 OR 卫生"
    # 海底捞 is 6 terminal cells, then " AND " = 5 cells: the '(' starts at cell 11.
    assert lines[1] == " " * 11 + "^"


def test_span_index_partner_agrees_with_brute_force() -> None:
    import random

    from processors.query import SpanIndex

    rng = random.Random(3)
    for _ in range(500):
        spans = [(s, s + rng.randint(1, 6)) for s in (rng.randint(0, 60) for _ in range(rng.randint(1, 8)))]
        index = SpanIndex(spans)
        a = rng.randint(0, 60)
        b = a + rng.randint(1, 6)
        gap = rng.randint(-1, 8)
        expected = any(max(a, c) - min(b, e) <= gap for c, e in spans)
        found = index.partner(a, b, gap)
        assert (found is not None) is expected
        if found is not None:
            assert found in spans and max(a, found[0]) - min(b, found[1]) <= gap


def test_near_on_random_texts_agrees_with_brute_force() -> None:
    import random

    rng = random.Random(5)
    q = parse_query("(蒙牛 OR 牛奶) NEAR/3 致癌")
    for _ in range(300):
        text = "".join(
            rng.choice(["蒙牛", "牛奶", "致癌", "的", "被", "检出", "，"]) for _ in range(rng.randint(0, 12))
        )
        lookup = occurrences(text)
        left = lookup("蒙牛") + lookup("牛奶")
        expected = any(max(a, c) - min(b, e) <= 3 for a, b in left for c, e in lookup("致癌"))
        assert q.evaluate(lookup) is expected, text
