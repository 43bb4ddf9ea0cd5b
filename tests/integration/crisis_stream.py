"""A small, deterministic history with one 海底捞 crisis, for end-to-end tests (real Chinese, Weibo style)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

BRANDS = ["海底捞", "蜜雪冰城", "小米"]
CONFIG_BRANDS = [
    {"name": "海底捞", "keywords": ["捞捞", "haidilao"]},
    {"name": "蜜雪冰城", "keywords": ["蜜雪"]},
    {"name": "小米", "keywords": ["xiaomi", "小米手机"], "exclude": ["小米粥", "小米椒"]},
]
CALM = [
    "今天和朋友去{b}，服务很好，上菜也快[赞]",
    "{b}的新品还不错，推荐大家试试😋",
    "周末去了{b}，人有点多，排队半小时，味道正常",
    "#{b}# 打卡成功，下次还来[哈哈]",
    "刚看到{b}的广告，感觉挺有意思的",
    "{b}這次的活動很划算，讚👍",
    "//@美食达人:去过 {b}，价格合理",
]
CRISIS = [
    "{b}后厨有老鼠！视频都拍到了，太恶心了，再也不去了[怒]",
    "震惊，{b}后厨老鼠乱窜，卫生太差了，必须给个说法[怒][怒]",
    "#{b}后厨老鼠# 看完想吐，食品安全谁来管？垃圾",
    "转发 //@维权姐:{b}后厨老鼠视频，门店还不承认，太过分了",
    "以前很喜欢{b}，现在真的失望透顶，卫生这么差😡",
]


def generate(
    start: datetime, minutes: int, crisis_from: int, crisis_minutes: int, seed: int = 3, per_minute: int = 4
) -> list[dict]:
    """Posts per minute per brand with noise; during the crisis 海底捞 gets many negative posts."""
    rnd = random.Random(seed)
    posts = []
    n = 0
    for m in range(minutes):
        minute = start + timedelta(minutes=m)
        for brand in BRANDS:
            count = max(0, per_minute + rnd.randint(-2, 2))
            templates = [(t, False) for t in CALM]
            if brand == "海底捞" and crisis_from <= m < crisis_from + crisis_minutes:
                count += 25
                templates = [(t, True) for t in CRISIS]
            for _ in range(count):
                n += 1
                text, _negative = rnd.choice(templates)
                posts.append(
                    {
                        "platform": "weibo",
                        "id": f"e2e{n}",
                        "text": text.format(b=brand),
                        "created_at": (minute + timedelta(seconds=rnd.randint(0, 59))).isoformat(),
                        "author": {
                            "id": f"u{rnd.randint(1, 400)}",
                            "name": f"用户{rnd.randint(1, 400)}",
                            "followers": int(rnd.paretovariate(1.2) * 50),
                        },
                        "metrics": {
                            "reposts": rnd.randint(0, 20),
                            "comments": rnd.randint(0, 10),
                            "likes": rnd.randint(0, 50),
                        },
                    }
                )
    posts.sort(key=lambda p: p["created_at"])
    return posts


def write_jsonl(posts: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts), encoding="utf-8")
    return path


def history_ending_now(minutes: int = 150, crisis_from: int = 100, crisis_minutes: int = 15) -> list[dict]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    return generate(end - timedelta(minutes=minutes), minutes, crisis_from, crisis_minutes)
