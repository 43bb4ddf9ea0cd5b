"""The whole chain the worker runs: Enricher.enrich / enrich_text."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from processors.brands import BrandRule
from processors.enrich import Enricher, brand_terms
from schemas.posts import EnrichedPost, RawPost

AT = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher([BrandRule(name="海底捞", keywords=["捞王"]), BrandRule(name="蒙牛", keywords=["特仑苏"])])


def _post(text: str, **extra) -> RawPost:
    return RawPost(
        platform="weibo", id="4890000000000001", text=text, created_at=datetime(2026, 3, 15, 20, 0, tzinfo=UTC), **extra
    )


def test_complaint_post_end_to_end(enricher: Enricher) -> None:
    text = "蒙牛特仑苏喝了拉肚子，太恶心了[怒][怒] #蒙牛食品安全# @蒙牛乳业 http://t.cn/A6x //@小王:真的假的"
    post = _post(text, vendor_field="kept")
    out = enricher.enrich(post, processed_at=AT)
    assert isinstance(out, EnrichedPost)
    assert out.text == text  # the original is kept
    assert out.brands == ["蒙牛"] and out.brand is None
    assert out.clean_text == "蒙牛特仑苏喝了拉肚子,太恶心了[怒][怒] 蒙牛食品安全"
    assert out.quoted_text == "真的假的"
    assert out.hashtags == ["蒙牛食品安全"]
    assert out.mentions == ["蒙牛乳业", "小王"]
    assert {"蒙牛", "特仑苏", "拉肚子", "#蒙牛食品安全#", "[怒]"} <= set(out.tokens)
    assert "拉肚子" in out.keywords
    assert out.sentiment.label == "negative" and out.sentiment.score < 0.2
    assert out.processed_at == AT
    assert out.model_extra == {"vendor_field": "kept"}


def test_praise_post(enricher: Enricher) -> None:
    out = enricher.enrich(_post("海底捞的服务真是没话说，服务员特别热情，毛肚也新鲜，强烈推荐👍"), processed_at=AT)
    assert out.brands == ["海底捞"]
    assert "海底捞" in out.tokens and "[赞]" in out.tokens
    assert out.sentiment.label == "positive"


def test_traditional_post_matches_simplified_brand(enricher: Enricher) -> None:
    out = enricher.enrich(_post("海底撈的服務態度真的很差，再也不去了"), processed_at=AT)
    assert out.clean_text == "海底捞的服务态度真的很差,再也不去了"
    assert out.brands == ["海底捞"]
    assert out.sentiment.label == "negative"


def test_bare_repost_takes_the_quoted_words(enricher: Enricher) -> None:
    out = enricher.enrich(_post("转发微博//@新闻哥:海底捞后厨有老鼠，太脏了[怒]"), processed_at=AT)
    assert out.clean_text == ""
    assert out.brands == ["海底捞"]
    assert "老鼠" in out.tokens
    assert out.sentiment.label == "negative"


def test_no_brand_no_words(enricher: Enricher) -> None:
    out = enricher.enrich_text("", processed_at=AT)
    assert out.brands == [] and out.tokens == [] and out.keywords == []
    assert out.sentiment.score == 0.5 and out.sentiment.label == "neutral"


def test_enrich_text_identity(enricher: Enricher) -> None:
    a = enricher.enrich_text("蒙牛真好喝", processed_at=AT)
    b = enricher.enrich_text("蒙牛真好喝", processed_at=AT)
    assert a.platform == "text" and a.id == b.id and len(a.id) == 16
    assert a.created_at == AT
    assert enricher.enrich_text("别的话", processed_at=AT).id != a.id


@pytest.mark.parametrize(
    "text",
    [
        "😀🙈🦄",
        "[怒][怒]",
        "\ud800坏\udfff",
        "\x00\x01\x1b[0m控制字符",
        "   ",
        "#" * 500,
        "//@//@//@:",
        "@@@@",
        "<" * 1000,
        "海底捞" * 35_000,
    ],
)
def test_weird_text_gives_a_defined_result(enricher: Enricher, text: str) -> None:
    out = enricher.enrich(_post(text), processed_at=AT)
    assert 0.0 <= out.sentiment.score <= 1.0
    out.model_dump_json()  # serialisable (lone surrogates replaced in `text`)


def test_random_text_never_raises(enricher: Enricher) -> None:
    rng = random.Random(11)
    alphabet = "海底捞蒙牛好差不没很太，。！？#@/[]:：😡👍\ud83d abc123\n\t&<>"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        enricher.enrich_text(text, processed_at=AT).model_dump_json()


def test_brand_terms_prefer_dictionary_terms() -> None:
    class Rule:
        name = "喜茶"
        keywords = ["HEYTEA"]

        def dictionary_terms(self) -> list[str]:
            return ["喜茶", "多肉葡萄"]

    class Legacy:
        name = "喜茶"
        keywords = ["HEYTEA"]

    assert brand_terms(Rule()) == ["喜茶", "多肉葡萄"]
    assert brand_terms(Legacy()) == ["喜茶", "HEYTEA"]


def test_snownlp_model_selectable() -> None:
    snow = Enricher(sentiment_model="snownlp")
    out = snow.enrich_text("这家店服务很好，非常满意", processed_at=AT)
    assert out.sentiment.score > 0.5
    with pytest.raises(ValueError):
        Enricher(sentiment_model="bert")
