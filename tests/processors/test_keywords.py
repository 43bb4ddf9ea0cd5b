"""Keywords: TF-IDF from the tokens we already have, same ranking as jieba.analyse.TFIDF."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jieba.analyse

from processors.keywords import KeywordExtractor, is_counted, is_term, parse_idf, shipped_idf, term_stop_words
from processors.segment import Segmenter, stop_words

LINGTING = Path(sys.executable).with_name("lingting")


TEXTS = [
    "海底捞的服务真的没话说，服务员很热情，毛肚和虾滑都很新鲜，就是排队时间太长了，等了一个多小时。",
    "蒙牛的牛奶喝了以后拉肚子，客服一直踢皮球，退款也不给退，这种企业真的太黑心了，已经投诉到消协。",
    "外卖送到的时候汤洒了一半，米饭也是凉的，骑手态度还很差，以后再也不点这家了。",
]


class _NoHMM:
    """jieba's TFIDF calls tokenizer.cut(text) (HMM on); the worker cuts with HMM off."""

    def __init__(self, tokenizer: jieba.Tokenizer) -> None:
        self.tokenizer = tokenizer

    def cut(self, text: str):
        return self.tokenizer.cut(text, HMM=False)


def test_same_ranking_as_jieba_tfidf(tmp_path, segmenter: Segmenter) -> None:
    idf_file = tmp_path / "idf.txt"
    data = (resources.files("processors.resources") / "idf.txt.gz").read_bytes()
    idf_file.write_bytes(gzip.decompress(data))
    reference = jieba.analyse.TFIDF(idf_path=str(idf_file))
    reference.tokenizer = _NoHMM(segmenter.tokenizer)
    ours = KeywordExtractor()
    for text in TEXTS:
        # jieba skips stop words only; ours skips counted words (一个多, 两个) by rule as well
        reference.stop_words = set(term_stop_words()) | {t for t in segmenter.cut(text) if is_counted(t)}
        expected = reference.extract_tags(text, topK=5)
        assert ours.extract(segmenter.cut(text), top_k=5) == expected
        assert len(expected) == 5


def test_shipped_idf_is_built_from_reviews_and_slang() -> None:
    idf = shipped_idf()
    assert len(idf) > 5000
    # Review vocabulary: a common word has a low IDF, a crisis word a high one.
    assert idf["不错"] < idf["老鼠"]
    assert "绝绝子" in idf  # slang entries are in the table


def test_keywords_skip_hashtags_emoticons_stop_words_and_single_chars() -> None:
    extractor = KeywordExtractor(idf={"退款": 5.0, "客服": 3.0, "的": 0.1})
    tokens = ["客服", "的", "退款", "退款", "#蒙牛#", "[怒]", "好", "我们"]
    assert extractor.extract(tokens) == ["退款", "客服"]
    assert extractor.extract([]) == []


def test_unseen_words_get_median_idf() -> None:
    extractor = KeywordExtractor(idf={"a1": 1.0, "b1": 2.0, "c1": 3.0})
    assert extractor.median_idf == 2.0
    assert extractor.extract(["新词", "a1"]) == ["新词", "a1"]


def test_parse_idf_ignores_bad_lines() -> None:
    assert parse_idf("好评 1.5\nbroken\n差评 x\n质量 2\n") == {"好评": 1.5, "质量": 2.0}


def test_near_stopwords_and_counted_words_are_never_keywords() -> None:
    tokens = ["以前", "三个", "真是", "呵呵", "这种", "第一次", "半小时", "2020", "后厨", "老鼠"]
    extractor = KeywordExtractor(idf={t: 10.0 for t in tokens})
    assert extractor.extract(tokens, top_k=10) == ["后厨", "老鼠"]


def test_term_stop_words_keep_what_a_crisis_says() -> None:
    stop = term_stop_words()
    assert stop_words() <= stop
    assert not ({"失望", "恶心", "难吃", "太差", "不好", "不去", "再也", "投诉", "退款", "后厨"} & stop)
    assert is_term("食品安全") and is_term("五星") and is_term("一次性") and is_term("百度")
    assert not is_term("十分") and not is_term("两次") and not is_term("呵呵") and not is_term("好")


def test_keyword_stopwords_file_states_its_source_and_repeats_no_function_word() -> None:
    text = (resources.files("processors.resources") / "keyword_stopwords.txt").read_text(encoding="utf-8")
    assert "Source:" in text
    words = [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]
    assert len(words) == len(set(words)) > 100
    assert not (set(words) & stop_words())  # one list per word


def test_enrich_cli_gives_the_crisis_words_as_keywords(tmp_path) -> None:
    """As a user runs it: the crisis words are keywords, the fillers of the sentence are not."""
    config = tmp_path / "lingting.yaml"
    config.write_text("brands:\n  - name: 海底捞\n", encoding="utf-8")
    text = "以前很喜欢海底捞，这种后厨有老鼠的事真是呵呵，三个人吃完都拉肚子\n"
    result = subprocess.run(
        [str(LINGTING), "enrich", "--text", "--config", str(config)],
        input=text.encode(),
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    post = json.loads(result.stdout)
    assert "后厨" in post["tokens"] and "后厨" in post["keywords"] and "拉肚子" in post["keywords"]
    assert not ({"以前", "这种", "真是", "呵呵", "三个"} & set(post["keywords"]))
