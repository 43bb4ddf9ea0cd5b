"""Normalisation of Chinese social media text.

``normalize(text)`` never raises and never changes the original: it returns a :class:`NormalizedText` with the
author's own words (``text``), the quoted repost chain (``quoted``), hashtags, mentions, URLs and emoticons pulled
out. Emoticon codes (``[怒]``) and emoji (😡) are unified to one bracket code each and kept, because they carry
sentiment; ``emoticon_polarity`` says which way.

Steps, in order: drop invalid surrogates / control / format characters → HTML entities and tags → NFKC
(full-width → half-width) → URLs → split ``//@user:`` repost chain → hashtags → mentions → emoji → code → fold
repeated punctuation and characters → traditional → simplified (opencc t2s, only when a traditional character is
present: most posts are simplified and the check is a set lookup).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

#: The NLP works on at most this many characters of the author's own words (a 100 KB post would otherwise cost
#: a second of CPU). ``original`` is never cut.
MAX_NLP_CHARS = 5000

# Weibo / WeChat emoticon codes → polarity (+1 positive, -1 negative, 0 neutral). Codes not listed keep their
# bracket form as a token with no polarity. Traditional spellings are folded to simplified before lookup.
_POSITIVE_CODES = """
哈哈 嘻嘻 爱你 心 赞 good 鼓掌 太开心 可爱 亲亲 花心 耶 威武 给力 偷笑 酷 礼物 蛋糕 ok 赞啊 送花花 笑哈哈
色 得意 害羞 调皮 呲牙 愉快 憨笑 奋斗 玫瑰 爱心 拥抱 强 握手 胜利 抱拳 跳跳 加油 好的 哇 开心 干杯 抱抱
馋嘴 兔子 羞嗑瓜子 awsl 666 点赞 比心 赞同 鲜花 作揖 笑 微风 太阳 好喜欢 喜欢 喜 棒 厉害 牛 绿丝带 心动
""".split()
_NEGATIVE_CODES = """
怒 泪 抓狂 衰 鄙视 吐 生病 失望 悲伤 怒骂 哼 晕 汗 委屈 可怜 伤心 弱 no 嫌弃 黑线 生气 允悲 打脸 费解 伤心欲绝
撇嘴 流泪 大哭 尴尬 发怒 难过 囧 白眼 惊恐 流汗 咒骂 敲打 左哼哼 右哼哼 快哭了 菜刀 凋谢 心碎 炸弹 便便 发抖 怄火
皱眉 天啊 裂开 崩溃 无语 泪目 凉凉 愤怒 叹气 困惑 怒斥 吐血 拜拜 骷髅 阴险 抠鼻 翻白眼 捂脸哭 生无可恋 破防
""".split()
EMOTICON_POLARITY: dict[str, int] = {
    **{c.lower(): 1 for c in _POSITIVE_CODES},
    **{c.lower(): -1 for c in _NEGATIVE_CODES},
}

# Emoji → the bracket code it means (so 😡 and [怒] become the same token). Others stay as a neutral emoji token.
EMOJI_CODES: dict[str, str] = {
    "😀": "哈哈",
    "😁": "哈哈",
    "😂": "笑哭",
    "🤣": "哈哈",
    "😃": "哈哈",
    "😄": "哈哈",
    "😆": "哈哈",
    "😊": "嘻嘻",
    "☺": "嘻嘻",
    "🙂": "微笑",
    "😍": "花心",
    "🥰": "爱你",
    "😘": "亲亲",
    "😻": "花心",
    "🤩": "花心",
    "👍": "赞",
    "👏": "鼓掌",
    "💯": "赞",
    "🎉": "耶",
    "🥳": "耶",
    "❤": "心",
    "💕": "心",
    "💖": "心",
    "💗": "心",
    "💓": "心",
    "💞": "心",
    "♥": "心",
    "🌹": "玫瑰",
    "💪": "加油",
    "✌": "耶",
    "👌": "ok",
    "🙏": "作揖",
    "😋": "馋嘴",
    "😎": "酷",
    "🤗": "抱抱",
    "😡": "怒",
    "😠": "怒",
    "🤬": "怒骂",
    "😤": "哼",
    "😭": "泪",
    "😢": "泪",
    "😿": "泪",
    "😞": "失望",
    "😔": "失望",
    "😩": "抓狂",
    "😫": "抓狂",
    "😖": "抓狂",
    "🤮": "吐",
    "🤢": "吐",
    "💔": "心碎",
    "👎": "弱",
    "😒": "哼",
    "🙄": "白眼",
    "😓": "汗",
    "😰": "惊恐",
    "😱": "惊恐",
    "😨": "惊恐",
    "💩": "便便",
    "😑": "无语",
    "😶": "无语",
    "🤡": "打脸",
    "🙃": "允悲",
    "😅": "汗",
    "🤔": "思考",
    "😮": "吃惊",
    "😲": "吃惊",
    "🍉": "吃瓜",
    "🐶": "doge",
    "🤷": "摊手",
    "😷": "生病",
    "🤒": "生病",
    "😪": "困",
    "😴": "睡",
    "🔥": "火",
}

_SURROGATES = re.compile(r"[\ud800-\udfff]")
# Real tags only: "价格<100元,质量>预期" is not a tag.
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]{0,10}(?:\s[^<>]{0,300})?/?>")
_URL = re.compile(r"(?:https?://|www\.)[\w\-./?=&%#:~+@!*,;]+|\bt\.cn/\w+", re.IGNORECASE)
_REPOST = re.compile(r"//\s?@")
_HASHTAG = re.compile(r"#([^#\n]{1,60})#")
# Weibo names: CJK, letters, digits, _ and -. ``回复@a:`` and ``//@a:`` share the form.
_MENTION = re.compile(r"(?<![A-Za-z0-9_.])@([\w\-·\u4e00-\u9fff]{1,30})")  # not an e-mail address
_CHAIN_AUTHOR = re.compile(r"//\s?@[\w\-·\u4e00-\u9fff]{1,30}\s*:?")
_MENTION_MARK = re.compile(r"(?:回复)?(?<![A-Za-z0-9_.])@[\w\-·\u4e00-\u9fff]{1,30}\s*:?")
_CODE = re.compile(r"\[([\w\u4e00-\u9fff]{1,8})\]")
_PUNCT_RUN = re.compile(r"([!?.,;:~\-_=*。，！？、；：…～·])\1+")
_CHAR_RUN = re.compile(r"(.)\1{3,}")
_SPACES = re.compile(r"\s+")
# Anything emoji-like left after the known ones: pictographs, dingbats, flags, skin tones, keycaps.
_OTHER_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\U0001f1e6-\U0001f1ff]")
# Every known emoji is one code point: one character class (an alternation of ~100 would be tried at every
# position of every post).
_ANY_EMOJI = re.compile("[" + "".join(map(re.escape, EMOJI_CODES)) + _OTHER_EMOJI.pattern[1:])
# Control and format characters (category Cc/Cf/Co/Cs) except whitespace: \u200d joins emoji, \ufe0f selects
# emoji style; both are noise for the NLP.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f"
    "\ufeff\ue000-\uf8ff\U000e0000-\U000e007f]"
)


@dataclass(slots=True)
class NormalizedText:
    original: str
    text: str = ""  # the author's own words, normalised (emoticons as [code])
    quoted: str = ""  # the quoted repost chain, normalised, without the //@user: markers
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    emoticons: list[str] = field(default_factory=list)  # codes in the author's own words, e.g. "[怒]"
    quoted_emoticons: list[str] = field(default_factory=list)
    truncated: bool = False

    def emoticon_polarity(self, quoted: bool = False) -> tuple[int, int]:
        """(positive, negative) emoticon counts in the own words (or in the quoted chain)."""
        pos = neg = 0
        for code in self.quoted_emoticons if quoted else self.emoticons:
            p = EMOTICON_POLARITY.get(code[1:-1].lower(), 0)
            pos += p > 0
            neg += p < 0
        return pos, neg


@lru_cache(maxsize=1)
def _t2s() -> tuple[frozenset[str], Any]:
    """Characters that t2s changes on their own, and the converter. Text without any of them is left alone
    (phrase-only rules such as 么 in some phrases would otherwise send most simplified posts through opencc)."""
    from opencc import OpenCC

    converter = OpenCC("t2s")
    source = (resources.files("opencc") / "dictionary" / "TSCharacters.txt").read_text(encoding="utf-8")
    chars = {line[0] for line in source.splitlines() if line and not line[0].isspace()}
    return frozenset(ch for ch in chars if converter.convert(ch) != ch), converter


def to_simplified(text: str) -> str:
    """Traditional → simplified; a no-op (and cheap) for text without traditional characters."""
    chars, converter = _t2s()
    if chars.isdisjoint(text):
        return text
    return converter.convert(text)


def without_emoticons(text: str) -> str:
    """``text`` with the [code] emoticons removed (they are features, not words to segment)."""
    return _CODE.sub(" ", text) if "[" in text else text


def _clean(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _HTML_TAG.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    return _INVISIBLE.sub("", text)


def _emoji_to_code(match: re.Match) -> str:
    code = EMOJI_CODES.get(match.group())
    return f"[{code}]" if code is not None else " "


def _emoji_to_codes(text: str) -> str:
    """Known emoji → their [code]; other pictographs → space."""
    return _ANY_EMOJI.sub(_emoji_to_code, text)


def _fold(text: str) -> str:
    text = _PUNCT_RUN.sub(r"\1", text)
    text = _CHAR_RUN.sub(r"\1\1\1", text)
    return _SPACES.sub(" ", text).strip()


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def normalize(text: object) -> NormalizedText:
    """Normalise one post. Accepts anything (None, bytes, broken unicode) and never raises."""
    original = _as_text(text)
    result = NormalizedText(original=original)
    work = _SURROGATES.sub("", original) if not original.isascii() else original
    if len(work) > 4 * MAX_NLP_CHARS:  # before the regexes: bound the cost of a huge post
        work = work[: 4 * MAX_NLP_CHARS]
        result.truncated = True
    work = _clean(work)

    urls = _URL.findall(work)
    if urls:
        result.urls = urls
        work = _URL.sub(" ", work)

    own, quoted = work, ""
    repost = _REPOST.search(work)
    if repost:
        own, quoted = work[: repost.start()], work[repost.start() :]

    seen_tags: set[str] = set()
    for tag in _HASHTAG.findall(work):
        tag = to_simplified(tag.strip())
        if tag and tag not in seen_tags:
            seen_tags.add(tag)
            result.hashtags.append(tag)

    seen_names: set[str] = set()
    for name in _MENTION.findall(work):
        if name not in seen_names:
            seen_names.add(name)
            result.mentions.append(name)

    result.text, result.emoticons = _finish(own, is_chain=False)
    if quoted:
        result.quoted, result.quoted_emoticons = _finish(quoted, is_chain=True)
    if len(result.text) > MAX_NLP_CHARS:
        result.text = result.text[:MAX_NLP_CHARS]
        result.truncated = True
    return result


def _finish(part: str, *, is_chain: bool) -> tuple[str, list[str]]:
    """Own words or quoted chain → (normalised text, emoticon codes)."""
    if is_chain:
        part = _CHAIN_AUTHOR.sub(" ", part)
    part = _MENTION_MARK.sub(" ", part)
    part = _HASHTAG.sub(lambda m: f" {m.group(1).strip()} ", part)
    part = _emoji_to_codes(part)
    part = to_simplified(part)
    codes = [f"[{m.lower()}]" if m.isascii() else f"[{m}]" for m in _CODE.findall(part)]
    part = _fold(part)
    if not is_chain and part in {"转发微博", "轉發微博", "Repost", "repost"}:
        part = ""
    return part, codes
