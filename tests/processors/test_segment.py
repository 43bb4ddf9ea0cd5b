"""jieba segmentation with brand and slang user words."""

from __future__ import annotations

from importlib import resources

import jieba

from processors.segment import USER_DICTIONARIES, Segmenter, is_punctuation, slang_entries, stop_words
from processors.sentiment import NEGATORS


def test_brand_terms_stay_one_token(segmenter: Segmenter) -> None:
    plain = jieba.Tokenizer()
    assert "海底捞" not in plain.lcut("海底捞的毛肚不新鲜", HMM=False)  # jieba alone splits it
    assert "海底捞" in segmenter.cut("海底捞的毛肚不新鲜")
    assert "特仑苏" in segmenter.cut("买了一箱特仑苏纯牛奶")
    assert "heytea" in segmenter.cut("heytea新品太甜了")  # lower-case variant of HEYTEA


def test_slang_stays_one_token(segmenter: Segmenter) -> None:
    tokens = segmenter.cut("这波操作绝绝子，yyds，但是价格是智商税，直接破防了")
    for word in ("绝绝子", "yyds", "智商税", "破防"):
        assert word in tokens


def test_slang_dictionary_is_jieba_format() -> None:
    entries = slang_entries()
    assert len(entries) > 50
    assert all(freq > 0 and tag for _, freq, tag in entries)


def test_each_shipped_dictionary_states_its_source() -> None:
    for name in USER_DICTIONARIES:
        text = (resources.files("processors.resources") / name).read_text(encoding="utf-8")
        assert "Source" in text or "source" in text, name


def test_every_dictionary_word_is_one_token() -> None:
    seg = Segmenter()
    split = [word for word, _, _ in slang_entries() if seg.cut(word) != [word] and " " not in word]
    assert split == []


CRISIS_SENTENCES = {  # sentence -> words the crisis is about, which jieba's own dictionary splits
    "海底捞后厨有老鼠": ["后厨", "老鼠"],
    "瑞幸的生椰拿铁今天喝出了异物": ["生椰拿铁", "异物"],
    "打工人的暖心早餐被做成了预制菜": ["打工人", "暖心", "预制菜"],
    "食安问题又翻车了，门店闭店整改": ["食安", "翻车", "闭店整改"],
    "这家店塌房了，大家避雷，我也踩雷了，维权无门": ["塌房", "避雷", "踩雷", "维权"],
    "外卖送餐太慢，送餐员还少送了一杯奶茶": ["送餐", "送餐员", "少送", "奶茶"],
    "饭后厨余垃圾没人收": ["饭后", "厨余垃圾"],  # 后厨 does not swallow 饭后 / 厨余
}


def test_consumer_crisis_words_stay_whole(segmenter: Segmenter) -> None:
    plain = jieba.Tokenizer()
    for sentence, words in CRISIS_SENTENCES.items():
        tokens = segmenter.cut(sentence)
        assert all(w in tokens for w in words), (sentence, tokens)
    assert "后厨" not in plain.lcut("海底捞后厨有老鼠", HMM=False)  # what the lexicon fixes


def test_xiaomi_pepper_is_a_food_not_the_brand_xiaomi() -> None:
    from processors.brands import BrandRule
    from processors.enrich import Enricher

    enricher = Enricher([BrandRule(name="小米", keywords=["xiaomi"])])
    for text in ("小米椒炒肉太辣了", "小米辣放多了", "早上喝小米粥"):
        post = enricher.enrich_text(text)
        assert "小米" not in post.tokens and "小米" not in post.keywords, (text, post.tokens)
    assert "小米" in enricher.enrich_text("小米手机发热严重").tokens


def test_a_brand_repeated_by_a_hashtag_is_one_token() -> None:
    from processors.brands import BrandRule
    from processors.enrich import Enricher

    enricher = Enricher([BrandRule(name="海底捞")])
    post = enricher.enrich_text("#海底捞# 海底捞后厨有老鼠")
    assert post.tokens.count("海底捞") == 1 and "#海底捞#" in post.tokens and "后厨" in post.tokens
    inline = enricher.enrich_text("今天去了#海底捞#吃饭")  # the hashtag is the only mention: its word stays
    assert inline.tokens.count("海底捞") == 1
    tagged = enricher.enrich_text("#海底捞后厨老鼠# 海底捞后厨有老鼠，海底捞必须道歉")
    assert tagged.tokens.count("后厨") == 1 and tagged.tokens.count("海底捞") == 2  # the author's own two stay
    two_tags = enricher.enrich_text("#海底捞后厨老鼠# #海底捞# 太慢了，一个小时才送来")
    assert two_tags.tokens.count("海底捞") == 1 and two_tags.tokens.count("后厨") == 1


def test_cut_keeps_punctuation_drops_spaces_content_drops_stop_words(segmenter: Segmenter) -> None:
    raw = segmenter.cut("我觉得 这个 外卖，送得太慢了！")
    assert "，" in raw and " " not in raw
    content = segmenter.content(raw)
    assert "外卖" in content and "太慢" in content
    assert "我" not in content and "，" not in content and "了" not in content


def test_stop_words_keep_negators_and_degree_words() -> None:
    stop = stop_words()
    assert "的" in stop and "了" in stop
    assert not (NEGATORS & stop)
    assert not ({"很", "太", "非常", "最", "超", "真"} & stop)


def test_empty_and_weird_text(segmenter: Segmenter) -> None:
    assert segmenter.cut("") == []
    assert segmenter.cut("   ") == []
    assert segmenter.content(segmenter.cut("，。！？…")) == []


def test_punctuation_detection() -> None:
    assert is_punctuation("，") and is_punctuation("...") and is_punctuation("※")
    assert not is_punctuation("好") and not is_punctuation("a1")


def test_hmm_off_is_deterministic_dictionary_segmentation() -> None:
    seg = Segmenter(slang=False)
    assert seg.cut("不好吃，送餐太慢了") == jieba.Tokenizer().lcut("不好吃，送餐太慢了", HMM=False)


def _corpus_sample() -> list[str]:
    """Real review sentences shipped with the project (a sample of both labelled sets)."""
    from connectors.synthetic import load_sentences

    pools = load_sentences()
    return pools["pos"] + pools["neg"]


ODD_TEXTS = [
    "",
    "   ",
    "a b\r\nc",
    "海底捞\t\t蒙牛  yyds!!!",
    "C++和C#还有.NET 3.5% -1",
    "😀🙈混合emoji文本",
    "[怒][泪]",
    "ＡＢＣ全角",
    "\u3000全角空格\u3000",
    "#话题#@某人//@转发:内容",
    "x" * 3000,
    "中文English混合123数字",
    "繁體中文測試",
    "\x00\x01控制",
]


def test_cut_equals_jieba_lcut(segmenter: Segmenter) -> None:
    """The block-cached cut yields exactly jieba's tokens (whitespace dropped), with and without HMM."""
    texts = ODD_TEXTS + _corpus_sample()
    assert len(texts) > 1000
    for seg in (segmenter, Segmenter(hmm=True, slang=False)):
        for _ in range(2):  # second pass: from the block cache
            for text in texts:
                expected = [t for t in seg.tokenizer.lcut(text, HMM=seg.hmm) if not t.isspace()]
                assert seg.cut(text) == expected, text


def test_add_term_invalidates_cached_blocks() -> None:
    seg = Segmenter(slang=False)
    assert "喜茶多肉葡萄" not in seg.cut("喜茶多肉葡萄太甜")
    seg.add_term("喜茶多肉葡萄")
    assert "喜茶多肉葡萄" in seg.cut("喜茶多肉葡萄太甜")


TIES = ["啊啊啊啊啊啊啊啊啊啊啊啊啊啊啊啊啊", "这是最最最最最不满意的一次订餐", "慢慢慢慢慢", "八宝茶太太太咸了"]


def test_tied_paths_are_cut_by_jieba_itself(segmenter: Segmenter) -> None:
    """Where two paths are equally probable jieba-rs breaks the tie its own way: those blocks go to jieba."""
    assert segmenter._fast is not None and Segmenter(hmm=True, slang=False)._fast is None
    reference = [segmenter.tokenizer.lcut(t, HMM=False) for t in TIES]
    assert any(segmenter._fast.cut(t, False) != ref for t, ref in zip(TIES, reference, strict=False))
    assert [segmenter.cut(t) for t in TIES] == reference
