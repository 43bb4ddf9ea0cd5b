"""The naive pipeline issue #15 compares the worker with: a kafka-python consumer, jieba + SnowNLP per post, and
``elasticsearch.helpers.bulk`` in chunks of 500, one process, no batching of its own beyond the bulk chunks.
Run by bench/e2e.py (``phase_naive``); it stops after ``--count`` posts.
"""

from __future__ import annotations

import argparse
import json

import jieba
from elasticsearch import Elasticsearch, helpers
from kafka import KafkaConsumer
from snownlp import SnowNLP


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--kafka", "--es", "--topic", "--index", "--brands"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--count", type=int, required=True)
    args = ap.parse_args()
    brands = args.brands.split(",")
    es = Elasticsearch(args.es, request_timeout=60)
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.kafka,
        group_id=f"{args.index}-naive",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    jieba.initialize()
    done, actions = 0, []
    for msg in consumer:
        post = json.loads(msg.value)
        text = post["text"]
        tokens = jieba.lcut(text)
        score = SnowNLP(text).sentiments if text.strip() else 0.5
        actions.append(
            {
                "_index": args.index,
                "_id": f"{post['platform']}:{post['id']}",
                "_source": {**post, "tokens": tokens, "brands": [b for b in brands if b in text], "sentiment": score},
            }
        )
        done += 1
        if len(actions) >= 500 or done >= args.count:
            helpers.bulk(es, actions)
            actions = []
        if done >= args.count:
            break
    consumer.close()
    es.close()


if __name__ == "__main__":
    main()
