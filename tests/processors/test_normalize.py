"""Normalisation of real-looking Weibo / WeChat text."""

from __future__ import annotations

import random

import pytest

from processors.normalize import MAX_NLP_CHARS, normalize, to_simplified, without_emoticons


def test_repost_chain_splits_own_words_from_quoted_chain() -> None:
    n = normalize("太恶心了[怒] //@吃货小王:真的假的？？？[吃惊]//@新闻哥: 海底捞后厨曝光")
    assert n.text == "太恶心了[怒]"
    assert n.quoted == "真的假的?[吃惊] 海底捞后厨曝光"
    assert n.mentions == ["吃货小王", "新闻哥"]
    assert n.emoticons == ["[怒]"]
    assert n.quoted_emoticons == ["[吃惊]"]


def test_bare_repost_has_no_own_words() -> None:
    n = normalize("转发微博//@央视新闻:蒙牛回应")
    assert n.text == ""
    assert n.quoted == "蒙牛回应"


def test_hashtags_kept_as_features_and_text() -> None:
    n = normalize("#海底捞食品安全# 再也不去了 #避雷#")
    assert n.hashtags == ["海底捞食品安全", "避雷"]
    assert n.text == "海底捞食品安全 再也不去了 避雷"


def test_mentions_urls_and_html_removed_from_text() -> None:
    n = normalize("回复@小李子:&lt;b&gt;好评&lt;/b&gt;<br/>详情 https://t.cn/A6abcDE?x=1 @蒙牛乳业 看看")
    assert n.text == "好评 详情 看看"
    assert n.mentions == ["小李子", "蒙牛乳业"]
    assert n.urls == ["https://t.cn/A6abcDE?x=1"]
    assert n.original.startswith("回复@小李子:&lt;b&gt;")


def test_angle_brackets_and_email_are_not_tags_or_mentions() -> None:
    n = normalize("价格<100元,质量>预期 联系kefu@mengniu.com.cn <p>谢谢</p>")
    assert n.text == "价格<100元,质量>预期 联系kefu@mengniu.com.cn 谢谢"
    assert n.mentions == []


def test_emoji_become_emoticon_codes_with_polarity() -> None:
    n = normalize("服务太差😡😡👎 但是菜好吃👍")
    assert n.emoticons == ["[怒]", "[怒]", "[弱]", "[赞]"]
    assert n.emoticon_polarity() == (1, 3)
    assert without_emoticons(n.text).split() == ["服务太差", "但是菜好吃"]


def test_weibo_codes_in_any_case_and_traditional() -> None:
    n = normalize("[哈哈][OK][淚][怒罵]")
    assert n.emoticons == ["[哈哈]", "[ok]", "[泪]", "[怒骂]"]
    assert n.emoticon_polarity() == (2, 2)


def test_full_width_folding_and_repeated_punctuation() -> None:
    n = normalize("ＡＰＰ闪退！！！！！？？？　真的好好好好好好气")
    assert n.text == "APP闪退!? 真的好好好气"


def test_traditional_to_simplified() -> None:
    assert normalize("這家餐廳的服務態度真的很差").text == "这家餐厅的服务态度真的很差"
    assert to_simplified("简体不变") == "简体不变"


@pytest.mark.parametrize(
    "bad",
    ["", None, "😀🙈🦄", "\ud800\udc00\ud83d", "\x00\x07\x1b[31m\u200d\ufeff", b"\xff\xfe bytes", 12345, "   \n\t "],
)
def test_odd_input_gives_defined_result(bad: object) -> None:
    n = normalize(bad)
    assert isinstance(n.text, str)
    assert "\x00" not in n.text
    n.text.encode("utf-8")  # no lone surrogates left


def test_huge_text_is_bounded_and_original_kept() -> None:
    big = "海底捞服务很好。" * 20_000  # 160,000 characters
    n = normalize(big)
    assert n.original == big
    assert len(n.text) <= MAX_NLP_CHARS
    assert n.truncated


def test_random_unicode_never_raises() -> None:
    rng = random.Random(7)
    for _ in range(300):
        text = "".join(chr(rng.randrange(0, 0x2FFFF)) for _ in range(rng.randrange(0, 60)))
        text += rng.choice(["//@a:", "#话#", "[怒]", "@x", "&amp;", "<p>", ""])
        normalize(text).text.encode("utf-8", errors="strict")
