"""Token quality: how much of what the segmenter yields is single characters, and which terms an alert shows.

    .venv/bin/python bench/tokens.py              # the demo crisis and the Weibo set (~1 minute)

Two inputs, both run through the worker's own chain (``Enricher``, then ``BrandMonitor`` per brand):
- the demo crisis: ``deploy/demo/scenario.yaml`` with the demo's seed (7) and brands (``deploy/demo/lingting.yaml``),
  from a fixed start, replayed offline; the table shows the top terms of each 海底捞 alert;
- the Weibo set (``weibo_ewect_virus_train.csv``, real posts): the single-character share of ``tokens``, the most
  common keywords, and the top terms of a simulated alert: a baseline learnt on windows of 100 posts of every
  emotion (shuffled, seeded), then one window of all ``angry`` posts — what an alert on a surge of angry posts
  about these topics would show.

"Single-character share" = tokens of one character / all word tokens (``#hashtag#`` tokens and ``[emoticon]``
codes left out, as they are not words). Prints a table and writes bench/results/tokens.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.synthetic import SyntheticSource, load_scenario  # noqa: E402
from pipeline.settings import load_settings  # noqa: E402
from processors.detection.explain import Vocabulary  # noqa: E402
from processors.detection.monitor import BrandMonitor  # noqa: E402
from processors.detection.windows import post_terms  # noqa: E402
from processors.enrich import Enricher  # noqa: E402
from schemas.posts import RawPost  # noqa: E402

WEIBO = Path("/work/shared/data/sentiment/weibo_ewect_virus_train.csv")
DEMO = ROOT / "deploy" / "demo"
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # fixed, so every run replays the same posts
RESULTS = ROOT / "bench" / "results" / "tokens.json"


def word_tokens(tokens: list[str]) -> list[str]:
    return [
        t
        for t in tokens
        if not (t.startswith("#") and t.endswith("#") and len(t) > 2) and not (t.startswith("[") and t.endswith("]"))
    ]


def single_share(posts_tokens: list[list[str]]) -> tuple[float, int, Counter]:
    words = [t for toks in posts_tokens for t in word_tokens(toks)]
    singles = Counter(t for t in words if len(t) == 1)
    return (sum(singles.values()) / len(words) if words else 0.0), len(words), singles


def demo_crisis() -> dict:
    settings = load_settings(DEMO / "lingting.yaml")
    enricher = Enricher(settings.brands)
    source = SyntheticSource(load_scenario(DEMO / "scenario.yaml"), seed=7, start=START)
    monitors = {b.name: BrandMonitor(b.name, settings.detection_for(b.name)) for b in settings.brands}
    alerts, tokens, crisis_tokens, brand_twice = [], [], [], 0
    for raw in source.generate(START):
        post = enricher.enrich(RawPost.model_validate(raw), processed_at=RawPost.model_validate(raw).created_at)
        tokens.append(post.tokens)
        if "后厨" in post.text or "老鼠" in post.text:
            crisis_tokens.append(post.tokens)
        brand_twice += any(post.tokens.count(b) > 1 for b in post.brands)
        for brand in post.brands:
            alerts += monitors[brand].add(post.model_copy(update={"brand": brand}))
    share, n_words, singles = single_share(tokens)
    crisis_share, crisis_words, _ = single_share(crisis_tokens)
    return {
        "posts": len(tokens),
        "word_tokens": n_words,
        "single_char_share": round(share, 4),
        "crisis_posts": len(crisis_tokens),
        "crisis_single_char_share": round(crisis_share, 4),
        "posts_with_a_brand_token_twice": brand_twice,
        "top_single_chars": singles.most_common(15),
        "alerts": [
            {"brand": a.brand, "status": a.status, "sequence": a.sequence, "top_terms": [t.term for t in a.top_terms]}
            for a in alerts
        ],
    }


def weibo_set(path: Path, seed: int) -> dict:
    with path.open(encoding="utf-8", newline="") as f:
        rows = [(r["emotion"], r["review"]) for r in csv.DictReader(f) if r.get("review")]
    enricher = Enricher()
    posts = [(emotion, enricher.enrich_text(text)) for emotion, text in rows]
    share, n_words, singles = single_share([p.tokens for _, p in posts])
    keywords = Counter(k for _, p in posts for k in p.keywords)
    # a simulated alert: baseline windows of 100 shuffled posts, then one window of every angry post
    vocabulary = Vocabulary(size=2000, halflife_windows=1e9)
    shuffled = posts[:]
    random.Random(seed).shuffle(shuffled)
    for i in range(0, len(shuffled), 100):
        window: Counter = Counter()
        chunk = shuffled[i : i + 100]
        for _, p in chunk:
            window.update(post_terms(p, brand=""))
        vocabulary.learn(dict(window), len(chunk))
    angry = [p for emotion, p in posts if emotion == "angry"]
    crisis: Counter = Counter(t for p in angry for t in post_terms(p, brand=""))
    terms = vocabulary.rising(dict(crisis), len(angry), limit=12)
    return {
        "posts": len(posts),
        "word_tokens": n_words,
        "single_char_share": round(share, 4),
        "top_single_chars": singles.most_common(15),
        "top_keywords": keywords.most_common(25),
        "angry_posts": len(angry),
        "angry_alert_top_terms": [t.term for t in terms],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weibo", type=Path, default=WEIBO)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    demo = demo_crisis()
    weibo = weibo_set(args.weibo, args.seed)
    print(f"{'input':<12} {'posts':>6} {'word tokens':>12} {'1-char share':>13}")
    print(f"{'demo':<12} {demo['posts']:>6} {demo['word_tokens']:>12} {demo['single_char_share']:>13.1%}")
    print(f"{'demo crisis':<12} {demo['crisis_posts']:>6} {'':>12} {demo['crisis_single_char_share']:>13.1%}")
    print(f"{'weibo':<12} {weibo['posts']:>6} {weibo['word_tokens']:>12} {weibo['single_char_share']:>13.1%}")
    print(f"demo posts with a brand token twice: {demo['posts_with_a_brand_token_twice']}")
    print("demo single characters:", " ".join(f"{c}×{n}" for c, n in demo["top_single_chars"]))
    print("weibo single characters:", " ".join(f"{c}×{n}" for c, n in weibo["top_single_chars"]))
    for a in demo["alerts"]:
        print(f"demo alert {a['brand']} {a['status']} #{a['sequence']}: {'、'.join(a['top_terms'])}")
    print("weibo top keywords:", "、".join(f"{k}({n})" for k, n in weibo["top_keywords"]))
    print(f"weibo simulated alert ({weibo['angry_posts']} angry posts):", "、".join(weibo["angry_alert_top_terms"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"demo": demo, "weibo": weibo}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
