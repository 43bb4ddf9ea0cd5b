"""Brand matching benchmark: posts/s of ``BrandMatcher.match`` with 50 brands (~600 terms) on short and long posts.

    .venv/bin/python bench/brands.py            # ~1 minute
    .venv/bin/python bench/brands.py --quick    # ~15 s

Posts are real Chinese reviews (waimai_10k: mean ~25 characters; ChnSentiCorp hotel: mean ~130), from
/work/shared/data/sentiment when present (else generated filler), with brand mentions injected into 30 % of them
(aliases, products, exclusion phrases like 小米粥, Latin names in mixed case), plus a worst case: 5,000-character
posts (the normaliser's cap) made of nothing but brand, query and exclusion words. Single process, one core.

Compared, on the same posts and rules:
- ``aho``:   BrandMatcher with the pyahocorasick automaton (the default);
- ``regex``: BrandMatcher with the pure-Python RegexIndex (compiled first-character class + startswith);
- ``alternation``: scan only, one compiled ``re`` alternation of all terms, longest first (it cannot report
  overlapping occurrences, so it cannot implement exclusions by occurrence; shown as the regex lower bound);
- ``naive``: the old placeholder, ``any(term in text ...)`` per brand (no boundaries, no queries).
``scan`` columns time the term search alone, ``match`` columns the whole ``match`` (boundaries, exclusions,
queries). Prints a table and writes bench/results/brands.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.brands import AhoCorasickIndex, BrandMatcher, BrandRule, RegexIndex  # noqa: E402

DATA_DIR = Path("/work/shared/data/sentiment")
RESULTS = ROOT / "bench" / "results" / "brands.json"

# 50 brands: name, real aliases/products. Padded below to ~12 terms each with the forms posts use.
BRANDS: list[tuple[str, list[str]]] = [
    ("海底捞", ["捞捞", "Haidilao", "海底捞火锅"]),
    ("小米", ["xiaomi", "MI", "雷军", "红米", "Redmi"]),
    ("蒙牛", ["特仑苏", "纯甄", "真果粒"]),
    ("伊利", ["安慕希", "金典", "舒化"]),
    ("华为", ["Huawei", "Mate 60", "鸿蒙"]),
    ("Apple", ["苹果", "iPhone", "iPad", "MacBook"]),
    ("美团", ["美团外卖", "Meituan", "大众点评"]),
    ("饿了么", ["ele.me", "饿了吗"]),
    ("星巴克", ["Starbucks", "星爸爸"]),
    ("瑞幸", ["luckin", "瑞幸咖啡", "小蓝杯"]),
    ("喜茶", ["HEYTEA", "喜茶GO"]),
    ("奈雪的茶", ["奈雪", "奈雪の茶"]),
    ("蜜雪冰城", ["雪王", "蜜雪"]),
    ("肯德基", ["KFC", "开封菜"]),
    ("麦当劳", ["McDonald", "金拱门", "麦记"]),
    ("西贝", ["西贝莜面村"]),
    ("农夫山泉", ["农夫", "东方树叶"]),
    ("元气森林", ["元气", "外星人电解质"]),
    ("比亚迪", ["BYD", "汉EV", "秦PLUS"]),
    ("特斯拉", ["Tesla", "Model Y", "Model 3"]),
    ("蔚来", ["NIO", "李斌"]),
    ("理想汽车", ["理想ONE", "Li Auto"]),
    ("小鹏", ["Xpeng", "何小鹏"]),
    ("OPPO", ["一加", "OnePlus"]),
    ("vivo", ["iQOO", "步步高"]),
    ("联想", ["Lenovo", "拯救者", "ThinkPad"]),
    ("京东", ["JD", "京东物流", "刘强东"]),
    ("淘宝", ["天猫", "Tmall", "闲鱼"]),
    ("拼多多", ["PDD", "多多买菜", "Temu"]),
    ("抖音", ["Douyin", "TikTok", "抖音商城"]),
    ("快手", ["Kuaishou", "快手极速版"]),
    ("微信", ["WeChat", "微信支付", "朋友圈"]),
    ("支付宝", ["Alipay", "蚂蚁花呗", "余额宝"]),
    ("滴滴", ["DiDi", "滴滴出行", "花小猪"]),
    ("携程", ["Ctrip", "Trip.com", "去哪儿"]),
    ("格力", ["Gree", "董明珠"]),
    ("美的", ["Midea", "小天鹅"]),
    ("海尔", ["Haier", "卡萨帝"]),
    ("安踏", ["ANTA", "FILA"]),
    ("李宁", ["Li-Ning", "中国李宁"]),
    ("茅台", ["飞天茅台", "i茅台", "茅台冰淇淋"]),
    ("五粮液", ["Wuliangye"]),
    ("三只松鼠", ["松鼠"]),
    ("良品铺子", ["良品"]),
    ("完美日记", ["Perfect Diary"]),
    ("花西子", ["Florasis"]),
    ("屈臣氏", ["Watsons"]),
    ("大疆", ["DJI", "御3", "Osmo"]),
    ("中国移动", ["移动", "China Mobile", "和包"]),
    ("顺丰", ["SF", "顺丰快递", "顺丰速运"]),
]
EXCLUDE = {
    "小米": ["小米粥", "小米椒", "小米辣", "招聘"],
    "Apple": ["苹果汁", "红富士苹果", "苹果醋"],
    "移动": ["移动硬盘"],
    "中国移动": ["移动硬盘", "移动电源", "移动端"],
    "理想汽车": ["理想型"],
    "元气森林": ["元气满满"],
    "农夫山泉": ["农夫与蛇"],
    "松鼠": ["松鼠鳜鱼"],
    "三只松鼠": ["松鼠鳜鱼", "小松鼠"],
}
QUERIES = {
    "海底捞": '(海底捞 OR 捞捞 OR haidilao) AND (老鼠 OR 卫生 OR "后厨" OR 拉肚子 OR 投诉) AND NOT 招聘',
    "蒙牛": "(蒙牛 OR 特仑苏 OR 纯甄) AND NOT (招聘 OR 广告)",
    "特斯拉": '(特斯拉 OR tesla OR "model y") NEAR/10 (刹车 OR 失控 OR 维权 OR 自燃)',
    "饿了么": "(饿了么 OR 饿了吗 OR ele.me) AND (骑手 OR 超时 OR 退款 OR 差评 OR 外卖)",
    "美团": "(美团 OR meituan OR 美团外卖) AND NOT (股价 OR 财报)",
}
SUFFIXES = ["官方", "旗舰店", "客服", "门店", "app", "会员", "售后"]

FILLER = (
    "送餐很快 味道不错 就是有点咸 房间干净 服务态度很好 下次还来 性价比高 价格有点贵 环境一般 早餐丰富 "
    "位置方便 交通便利 排队太久 外卖超时 包装完好 分量足 不推荐 强烈推荐 [赞] [怒] 😡 😂 👍 #避雷# #好物分享#"
).split()


def build_rules() -> list[BrandRule]:
    rules = []
    for name, aliases in BRANDS:
        padded = list(aliases) + [f"{name}{s}" for s in SUFFIXES]
        rules.append(BrandRule(name=name, aliases=padded, exclude=EXCLUDE.get(name, []), query=QUERIES.get(name)))
    return rules


def load_texts(short: bool, limit: int, rng: random.Random) -> list[str]:
    path = DATA_DIR / ("waimai_10k.csv" if short else "ChnSentiCorp_htl_all.csv")
    if path.exists():
        with open(path, encoding="utf-8", newline="") as fh:
            texts = [r["review"].strip() for r in csv.DictReader(fh) if (r.get("review") or "").strip()]
        rng.shuffle(texts)
        return texts[:limit]
    words = 6 if short else 30  # fallback: generated filler of about the same length
    return ["".join(rng.choice(FILLER) for _ in range(words)) for _ in range(limit)]


def inject_mentions(texts: list[str], rules: list[BrandRule], rng: random.Random, share: float = 0.3) -> list[str]:
    mentions = [t for r in rules for t in (r.name, *r.keywords)] + [x for r in rules for x in r.exclude]
    out = []
    for text in texts:
        if rng.random() < share:
            for _ in range(rng.randint(1, 3)):
                m = rng.choice(mentions)
                m = m.upper() if rng.random() < 0.2 else m
                at = rng.randint(0, len(text))
                text = text[:at] + m + text[at:]
        out.append(text.lower())
    return out


def naive_matcher(rules: list[BrandRule]) -> Callable[[str], list[str]]:
    compiled = [
        (r.name, [t.lower() for t in (r.name, *r.keywords, *r.products)], [x.lower() for x in r.exclude]) for r in rules
    ]

    def match(text: str) -> list[str]:
        return [
            name for name, terms, excl in compiled if any(t in text for t in terms) and not any(x in text for x in excl)
        ]

    return match


def alternation_scanner(terms: list[str]) -> Callable[[str], list]:
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))
    return lambda text: [m.span() for m in pattern.finditer(text)]


def posts_per_second(fn: Callable[[str], object], posts: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for p in posts:
            fn(p)
        best = min(best, time.perf_counter() - t0)
    return len(posts) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer posts and repeats")
    args = ap.parse_args()
    n, repeat = (2000, 2) if args.quick else (10000, 5)
    rng = random.Random(20240501)
    rules = build_rules()

    t0 = time.perf_counter()
    aho = BrandMatcher(rules, index=AhoCorasickIndex)
    build_aho_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    rx = BrandMatcher(rules, index=RegexIndex)
    build_regex_ms = (time.perf_counter() - t0) * 1000
    terms = aho.terms
    scans = {"aho": AhoCorasickIndex(terms), "regex": RegexIndex(terms)}
    alternation = alternation_scanner(terms)
    naive = naive_matcher(rules)

    results: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "brands": len(rules),
        "terms": len(terms),
        "queries": len(QUERIES),
        "posts_per_set": n,
        "build_ms": {"aho": round(build_aho_ms, 1), "regex": round(build_regex_ms, 1)},
        "sets": {},
    }
    spam_unit = "海底捞后厨老鼠小米粥特斯拉刹车失控蒙牛致癌model y"
    spam = [(spam_unit * (5000 // len(spam_unit) + 1))[:5000]] * 20  # worst case: a 5,000-char hit storm
    for label, short in (("short", True), ("long", False), ("spam", None)):
        posts = spam if short is None else inject_mentions(load_texts(short, n, rng), rules, rng)
        agree = sum(aho.match(p) == rx.match(p) for p in posts)
        matched = sum(bool(aho.match(p)) for p in posts)
        row = {
            "mean_chars": round(sum(map(len, posts)) / len(posts), 1),
            "posts_with_brand": round(matched / len(posts), 3),
            "aho_regex_agree": agree == len(posts),
            "match_posts_per_s": {
                "aho": posts_per_second(aho.match, posts, repeat),
                "regex": posts_per_second(rx.match, posts, repeat),
                "naive": posts_per_second(naive, posts, repeat),
            },
            "scan_posts_per_s": {
                "aho": posts_per_second(lambda p: list(scans["aho"].find(p)), posts, repeat),
                "regex": posts_per_second(lambda p: list(scans["regex"].find(p)), posts, repeat),
                "alternation": posts_per_second(alternation, posts, repeat),
            },
        }
        results["sets"][label] = row

    print(
        f"brand matching: {results['brands']} brands, {results['terms']} distinct terms, "
        f"{results['queries']} queries, {n} posts per set, best of {repeat}; one core, Python "
        f"{results['python']}"
    )
    print(f"build: aho {build_aho_ms:.1f} ms, regex {build_regex_ms:.1f} ms")
    header = (
        f"{'set':<6} {'chars':>6} {'hit%':>5} | {'match aho':>10} {'match regex':>12} {'naive':>9} | "
        f"{'scan aho':>9} {'scan regex':>11} {'alternation':>12}   posts/s"
    )
    print(header)
    print("-" * len(header))
    for label, row in results["sets"].items():
        m, s = row["match_posts_per_s"], row["scan_posts_per_s"]
        print(
            f"{label:<6} {row['mean_chars']:>6} {row['posts_with_brand'] * 100:>4.0f}% | {m['aho']:>10,.0f} "
            f"{m['regex']:>12,.0f} {m['naive']:>9,.0f} | {s['aho']:>9,.0f} {s['regex']:>11,.0f} "
            f"{s['alternation']:>12,.0f}   {'(aho = regex results)' if row['aho_regex_agree'] else 'DISAGREE!'}"
        )
    for row in results["sets"].values():
        for group in ("match_posts_per_s", "scan_posts_per_s"):
            row[group] = {k: round(v) for k, v in row[group].items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
