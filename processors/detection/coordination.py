"""Suspected coordinated posting (水军): bursts of near-identical posts from many young, low-follower accounts.

A story of the window is suspect when it has at least ``coordination_min_posts`` posts from at least
``coordination_min_accounts`` accounts and at least ``coordination_min_share`` of its posts come from suspicious
accounts (registered less than ``coordination_young_days`` before posting AND fewer than
``coordination_low_followers`` followers; an account of unknown age is not suspicious). Such posts are still
counted (one per account, see ``windows.story_weight``) and the alert says so, instead of silently inflating
the crisis or dropping them.
"""

from __future__ import annotations

from datetime import timedelta

from processors.detection.settings import DetectionSettings
from processors.detection.windows import WindowAgg
from schemas.alerts import Coordination
from schemas.posts import EnrichedPost


def is_suspicious_account(post: EnrichedPost, settings: DetectionSettings) -> bool:
    author = post.author
    if author is None or author.created_at is None:
        return False
    young = post.created_at - author.created_at < timedelta(days=settings.coordination_young_days)
    return young and (author.followers or 0) < settings.coordination_low_followers


def coordination(window: WindowAgg, settings: DetectionSettings) -> Coordination:
    posts = accounts = stories = 0
    for story_posts, _neg, _reach, suspicious, authors, *voices in window.stories.values():
        n_accounts = voices[0] if voices else len(authors)
        if (
            story_posts >= settings.coordination_min_posts
            and n_accounts >= settings.coordination_min_accounts
            and suspicious >= settings.coordination_min_share * story_posts
        ):
            posts += story_posts
            accounts += n_accounts
            stories += 1
    if not posts:
        return Coordination()
    share = posts / window.total if window.total else 0.0
    reason = (
        f"{accounts} 个注册不足 {settings.coordination_young_days} 天、粉丝少于 "
        f"{settings.coordination_low_followers} 的账号集中发布了 {posts} 条近乎相同的内容"
        f"（{stories} 组），占本窗口声量 {share:.0%}，疑似水军"
    )
    return Coordination(suspected=True, posts=posts, accounts=accounts, share=round(share, 4), reason=reason)
