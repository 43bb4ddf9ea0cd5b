"""Brand rules (config section) and brand matching on normalised Chinese posts."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from pipeline.settings import settings_from_dict
from processors.brands import AhoCorasickIndex, BrandMatcher, BrandRule, RegexIndex, fold_term, validate_rules
from processors.normalize import normalize
from schemas.errors import ConfigError, RuleError

XIAOMI = BrandRule(
    name="小米",
    aliases=["xiaomi", "MI", "雷军"],
    products=["红米", "Redmi"],
    exclude=["小米粥", "小米椒", "小米辣", "招聘"],
)
HAIDILAO = BrandRule(name="海底捞", aliases=["捞捞", "Haidilao"], competitors=["西贝"])
XIBEI = BrandRule(name="西贝", aliases=["西贝莜面村"], exclude=["西贝柳斯"])
MENGNIU = BrandRule(name="蒙牛", products=["特仑苏", "纯甄"], competitors=["伊利"])
YILI = BrandRule(name="伊利", products=["安慕希", "金典"], competitors=["蒙牛"])
APPLE = BrandRule(name="Apple", aliases=["苹果", "iPhone"], exclude=["苹果汁", "苹果醋", "红富士苹果"])
ALL = [XIAOMI, HAIDILAO, XIBEI, MENGNIU, YILI, APPLE]


@pytest.fixture(scope="module", params=["aho", "regex"])
def matcher(request: pytest.FixtureRequest) -> BrandMatcher:
    index = AhoCorasickIndex if request.param == "aho" else RegexIndex
    return BrandMatcher(ALL, index=index)


def post(text: str) -> str:
    """The text the worker matches: the normaliser's output (own words, mentions, quoted chain)."""
    n = normalize(text)
    return " ".join([n.text, *n.mentions, n.quoted])


# ------------------------------------------------------------------------------------------------ aliases


@pytest.mark.parametrize(
    "text,brands",
    [
        ("今天去吃了海底捞，服务真好👍", ["海底捞"]),
        ("捞捞的番茄锅底yyds[赞]", ["海底捞"]),
        ("特仑苏喝出异味了😡 #食品安全#", ["蒙牛"]),  # product counts as the brand
        ("雷军今天发布会讲得不错", ["小米"]),
        ("#红米Note13# 性价比之王", ["小米"]),
        ("天气不错，出去走走", []),
    ],
)
def test_name_aliases_products(matcher: BrandMatcher, text: str, brands: list[str]) -> None:
    assert matcher.match(post(text)) == brands


def test_aliases_accepted_under_both_yaml_keys() -> None:
    a = BrandRule.model_validate({"name": "海底捞", "aliases": ["捞捞"]})
    b = BrandRule.model_validate({"name": "海底捞", "keywords": ["捞捞"]})
    assert a.keywords == b.keywords == ["捞捞"]


def test_latin_names_case_insensitive_on_word_boundaries(matcher: BrandMatcher) -> None:
    assert matcher.match(post("新买的IPHONE 15 Pro Max真香")) == ["Apple"]
    assert matcher.match(post("iPhone15续航翻车了[怒]")) == ["Apple"]  # digit after a letter: a boundary
    assert matcher.match(post("我的Mi 14 Ultra到了")) == ["小米"]
    assert matcher.match(post("我的mi14到了")) == ["小米"]
    assert matcher.match(post("买了redmi k70")) == ["小米"]
    assert matcher.match(post("our family dinner, 很开心")) == []  # "mi" inside a word
    assert matcher.match(post("Miami 的海滩")) == []
    assert matcher.match(post("APPLE WATCH 好用")) == ["Apple"]
    assert matcher.match(post("pineapple 菠萝")) == []


def test_digit_boundaries_in_product_names() -> None:
    m = BrandMatcher([BrandRule(name="华为", products=["Mate 60", "P60"])])
    assert m.match("mate 60 pro 到手") == ["华为"]
    assert m.match("mate 600 是什么") == []
    assert m.match("p60art 真好看") == ["华为"]
    assert m.match("p600") == []


def test_traditional_and_fullwidth_config_terms_match_normalised_text() -> None:
    m = BrandMatcher([BrandRule(name="海底撈", aliases=["ＨＤＬ"])])
    assert m.match(post("海底撈的服務太差了")) == ["海底撈"]  # post folded by the normaliser, rule by the matcher
    assert m.match(post("ＨＤＬ又上热搜")) == ["海底撈"]


# ------------------------------------------------------------------------------------------------ exclusions


def test_exclusion_vetoes_only_the_occurrence_it_covers(matcher: BrandMatcher) -> None:
    assert matcher.match(post("小米粥真好喝")) == []
    assert matcher.match(post("小米椒炒肉太辣了🌶")) == []
    assert matcher.match(post("小米粥真好喝，小米手机也不错")) == ["小米"]
    assert matcher.match(post("早上喝小米粥，晚上吃小米辣")) == []
    assert matcher.match(post("喝小米粥刷红米手机")) == ["小米"]  # product occurrence is not covered


def test_exclusion_without_brand_word_vetoes_the_whole_post(matcher: BrandMatcher) -> None:
    assert matcher.match(post("小米招聘：高级工程师若干")) == []
    assert matcher.match(post("小米汽车SU7发布")) == ["小米"]


def test_exclusion_of_one_brand_does_not_affect_another(matcher: BrandMatcher) -> None:
    # 招聘 vetoes 小米 but not 海底捞; 苹果汁 vetoes the Apple occurrence only.
    assert matcher.match(post("小米和海底捞都在招聘")) == ["海底捞"]
    assert matcher.match(post("在海底捞喝了苹果汁")) == ["海底捞"]
    assert matcher.match(post("西贝柳斯的音乐")) == []
    assert matcher.match(post("西贝莜面村 vs 西贝柳斯")) == ["西贝"]


def test_exclusion_in_repost_chain_and_mentions() -> None:
    m = BrandMatcher([HAIDILAO.model_copy(update={"competitors": []}), APPLE])
    assert m.match(post("太恶心了[怒] //@吃货小王:真的假的//@新闻哥: 海底捞后厨曝光")) == ["海底捞"]
    assert m.match(post("@Apple 客服 电话打不通")) == ["Apple"]
    assert m.match(post("红富士苹果熟了 //@果农:今年苹果汁卖得好")) == []


def test_exclusion_equal_to_own_alias_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        BrandRule(name="小米", aliases=["xiaomi"], exclude=["XiaoMi"])
    assert "would veto every mention" in str(info.value)


# ------------------------------------------------------------------------------------------------ several brands


def test_several_brands_in_config_order(matcher: BrandMatcher) -> None:
    text = post("伊利金典和特仑苏哪个好？#牛奶测评# iPhone拍的图😂 //@小米粉丝:当然是小米手机拍")
    assert matcher.match(text) == ["小米", "蒙牛", "伊利", "Apple"]


def test_shared_alias_matches_both_brands() -> None:
    m = BrandMatcher(
        [BrandRule(name="苹果公司", aliases=["苹果"]), BrandRule(name="苹果手机", aliases=["苹果", "iPhone"])]
    )
    assert m.match("苹果发布会") == ["苹果公司", "苹果手机"]
    assert m.match("iphone 发布会") == ["苹果手机"]


def test_no_rules_and_empty_text() -> None:
    assert BrandMatcher([]).match("海底捞") == []
    assert BrandMatcher(ALL).match("") == []


# ------------------------------------------------------------------------------------------------ queries

CRISIS = BrandRule(
    name="海底捞",
    aliases=["捞捞"],
    exclude=["海底捞月"],
    query='(海底捞 OR 捞捞) AND (老鼠 OR 卫生 OR "后厨") AND NOT 招聘',
)


def test_query_decides_instead_of_aliases() -> None:
    m = BrandMatcher([CRISIS])
    assert m.match(post("#海底捞# 后厨有老鼠[怒][怒]")) == ["海底捞"]
    assert m.match(post("海底捞服务真好😊")) == []  # name alone is not enough
    assert m.match(post("海底捞招聘后厨人员")) == []  # NOT 招聘


def test_exclusions_still_veto_query_words_by_occurrence() -> None:
    m = BrandMatcher([CRISIS])
    assert m.match("海底捞月是个成语，和卫生无关") == []
    assert m.match("海底捞月是个成语；海底捞的卫生另说") == ["海底捞"]


def test_query_near_on_real_posts() -> None:
    m = BrandMatcher([BrandRule(name="蒙牛", products=["特仑苏"], query="(蒙牛 OR 特仑苏) NEAR/5 (致癌 OR 黄曲霉)")])
    assert m.match(post("网传特仑苏检出黄曲霉！！！[吃惊]")) == ["蒙牛"]
    assert m.match(post("特仑苏真好喝，另外黄曲霉是什么")) == []


def test_query_words_obey_latin_boundaries() -> None:
    m = BrandMatcher([BrandRule(name="小米", query="(mi OR 小米) AND 手机")])
    assert m.match("family 手机") == []
    assert m.match("mi 手机") == ["小米"]


# ------------------------------------------------------------------------------------------------ rule errors


@pytest.mark.parametrize(
    "query,column,reason",
    [
        ("(海底捞 OR 捞捞) AND (老鼠", 17, "unclosed parenthesis"),
        ("海底捞 AND", 5, "dangling operator"),
        ("", 1, "empty query"),
        ("海底捞 XOR 老鼠", 5, "unknown operator 'XOR'"),
    ],
)
def test_matcher_reports_query_errors_with_brand_and_position(query: str, column: int, reason: str) -> None:
    bad = BrandRule.model_construct(
        name="海底捞", keywords=[], exclude=[], products=[], query=query, competitors=[], detection={}
    )
    with pytest.raises(RuleError) as info:
        BrandMatcher([XIBEI, bad])
    msg = str(info.value)
    assert msg.startswith("brands[1].query: brand '海底捞'")
    assert f"at column {column}: {reason}" in msg
    query_line, caret_line = msg.splitlines()[-2:]
    assert query_line.strip() == query.strip()
    assert caret_line.endswith("^")


def test_config_load_reports_query_error_under_its_key() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"brands": [{"name": "西贝"}, {"name": "海底捞", "query": "海底捞 AND (老鼠 OR"}]})
    msg = str(info.value)
    assert "brands[1].query" in msg and "brand '海底捞'" in msg and "column" in msg


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"brands": [{"name": "海底捞", "alias": ["捞捞"]}]})
    assert "brands[0].alias" in str(info.value)


def test_blank_alias_is_named_with_its_index() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"brands": [{"name": "海底捞", "aliases": ["捞捞", "  "]}]})
    assert "brands[0].aliases[1]" in str(info.value) or "brands[0].keywords[1]" in str(info.value)


def test_competitors_must_be_configured_brands() -> None:
    validate_rules(ALL[:5])  # 蒙牛 ↔ 伊利, 海底捞 → 西贝: all configured
    with pytest.raises(RuleError) as info:
        BrandMatcher([HAIDILAO, MENGNIU])
    msg = str(info.value)
    assert "brands[0].competitors[0]" in msg and "'海底捞'" in msg and "'西贝'" in msg


def test_brand_cannot_be_its_own_competitor() -> None:
    with pytest.raises(ValidationError) as info:
        BrandRule(name="蒙牛", competitors=["蒙牛"])
    assert "itself" in str(info.value)


def test_duplicate_brand_names_are_refused() -> None:
    with pytest.raises(RuleError) as info:
        BrandMatcher([XIBEI, BrandRule(name="西贝")])
    assert "brands[1].name" in str(info.value)


# ------------------------------------------------------------------------------------------------ misc


def test_dictionary_terms_simplified_deduplicated() -> None:
    rule = BrandRule(name="蒙牛", aliases=["蒙牛乳業", "蒙牛"], products=["特侖蘇", "Ｍilk Deluxe"])
    assert rule.dictionary_terms() == ["蒙牛", "蒙牛乳业", "特仑苏", "Milk Deluxe"]


def test_fold_term() -> None:
    assert fold_term("  iPhone   15  ") == "iphone 15"
    assert fold_term("海底撈") == "海底捞"


def test_both_indexes_find_the_same_overlapping_occurrences() -> None:
    rng = random.Random(7)
    alphabet = "小米粥椒海底捞月蒙牛特仑苏ab1 "
    terms = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))).strip() or "x" for _ in range(200)})
    aho, regex = AhoCorasickIndex(terms), RegexIndex(terms)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        expected = sorted(
            (i, i + len(t), tid) for tid, t in enumerate(terms) for i in range(len(text)) if text.startswith(t, i)
        )
        assert sorted(aho.find(text)) == expected
        assert sorted(regex.find(text)) == expected


def test_every_yaml_example_in_the_docs_loads_and_compiles() -> None:
    import re
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "brand-rules.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    assert len(blocks) >= 5
    for block in blocks:
        settings = settings_from_dict(yaml.safe_load(block), "docs/brand-rules.md")
        BrandMatcher(settings.brands)
    crisis = settings_from_dict(yaml.safe_load(next(b for b in blocks if "后厨" in b))).brands
    assert BrandMatcher(crisis).match(post("海底捞后厨有老鼠😡 #避雷#")) == ["海底捞"]


@pytest.mark.parametrize("index", [AhoCorasickIndex, RegexIndex])
def test_terms_with_regex_special_characters(index) -> None:
    m = BrandMatcher(
        [
            BrandRule(name="饿了么", aliases=["ele.me", "^_^饿", "[饿]", "-饿-", "\\饿"]),
            BrandRule(name="李宁", aliases=["Li-Ning"]),
        ],
        index=index,
    )
    assert m.match("ele.me 又超时了") == ["饿了么"]
    assert m.match("elexme") == []
    assert m.match("表情[饿]") == ["饿了么"]
    assert m.match("\\饿 和 -饿- 和 ^_^饿") == ["饿了么"]
    assert m.match("新买的li-ning跑鞋") == ["李宁"]
