"""Stories: reposts and near-duplicate texts grouped by SimHash, with bounded memory."""

from __future__ import annotations

import json

from processors.detection.stories import StoryIndex, simhash, text_features

ORIGINAL = "海底捞后厨有老鼠！视频都拍到了，太恶心了，再也不去了[怒]"


def distance(a: str, b: str) -> int:
    return (simhash(a) ^ simhash(b)).bit_count()


def test_simhash_ignores_punctuation_emoji_emoticons_mentions_and_links():
    assert distance(ORIGINAL, "海底捞后厨有老鼠!!视频都拍到了，太恶心了，再也不去了😡") == 0
    assert distance(ORIGINAL, "@维权姐 海底捞后厨有老鼠！视频都拍到了，太恶心了，再也不去了 http://t.cn/A6x") == 0
    assert text_features("[怒][怒]😡！！") == []
    assert simhash("😡😡") is None


def test_near_duplicates_are_close_and_different_posts_are_far():
    assert distance(ORIGINAL, "海底捞后厨竟然有老鼠！视频都拍到了，太恶心了，再也不去了") <= 10
    assert distance(ORIGINAL, "震惊，海底捞后厨老鼠乱窜，卫生太差了，必须给个说法") > 16
    assert distance(ORIGINAL, "今天和朋友去海底捞，服务很好，上菜也快[赞]") > 16


def test_reposts_join_the_story_of_the_original_even_with_their_own_words():
    index = StoryIndex()
    root = index.assign("weibo:1", ORIGINAL, None, 0)
    assert index.assign("weibo:2", "转发微博", "weibo:1", 1) == root
    assert index.assign("weibo:3", "//@小王:太可怕了", "weibo:2", 2) == root  # a repost of a repost
    assert index.assign("weibo:4", "海底捞後廚有老鼠！視頻都拍到了，太噁心了", None, 3) != root  # not simplified here
    assert index.assign("weibo:5", "海底捞后厨有老鼠！！视频都拍到了，太恶心了，再也不去了", None, 4) == root
    assert index.stories[root][2] == 4


def test_a_repost_of_an_unseen_post_starts_a_story_named_after_it_which_the_original_joins_later():
    index = StoryIndex()
    a = index.assign("weibo:10", "转发微博", "weibo:999", 0)
    b = index.assign("weibo:11", "转发", "weibo:999", 1)
    assert a == b == "weibo:999"
    assert not index.seen("weibo:999")  # the original itself was not delivered: it is no duplicate
    assert index.assign("weibo:999", ORIGINAL, None, 2) == "weibo:999"
    assert index.stories["weibo:999"][2] == 3
    assert index.assign("weibo:12", "海底捞后厨有老鼠！视频都拍到了，太恶心了，再也不去了", None, 3) == "weibo:999"


def test_memory_is_bounded_and_old_stories_expire():
    index = StoryIndex(max_stories=50, ttl_seconds=600)
    for i in range(500):
        index.assign(
            f"weibo:{i}",
            f"第{i}条完全不同的内容：{chr(0x4E00 + i * 7)}{chr(0x4E00 + i * 13)}{chr(0x5000 + i)}",
            None,
            i,
        )
    assert len(index.stories) <= 50
    assert len(index.links) <= 100
    assert sum(len(ids) for ids in index.bands.values()) <= 8 * 50
    index.assign("weibo:new", "全新的一条帖子内容", None, 10_000)
    assert len(index.stories) == 1  # everything else is older than the TTL


def test_state_round_trip_keeps_recent_stories_and_repost_links():
    index = StoryIndex()
    root = index.assign("weibo:1", ORIGINAL, None, 0)
    for i in range(2, 40):
        index.assign(f"weibo:{i}", f"不相干的帖子{i}号，内容各不相同{chr(0x4E00 + i * 31)}", None, i)
    restored = StoryIndex(state=json.loads(json.dumps(index.to_state(limit=100))))
    assert restored.assign("weibo:100", "转发微博", "weibo:1", 50) == root
    assert restored.assign("weibo:101", "海底捞后厨有老鼠！视频都拍到了，太恶心了，再也不去了", None, 51) == root
    small = index.to_state(limit=5)
    assert len(small["stories"]) == 5
