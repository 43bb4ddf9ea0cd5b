"""A realistic sample crisis (海底捞 food-safety story) and example channels, for ``lingting notify test|render``
and the docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.alerts import Alert, Coordination, SamplePost, TopAuthor, TopTerm


def sample_alert(
    *,
    severity: str = "critical",
    status: str = "open",
    sequence: int = 0,
    brand: str = "海底捞",
    now: datetime | None = None,
) -> Alert:
    now = now or datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    crisis = start - timedelta(minutes=10)
    return Alert(
        id=f"{brand}:{crisis.isoformat()}",
        brand=brand,
        severity=severity,
        status=status,
        sequence=sequence,
        window_start=start,
        window_end=start + timedelta(minutes=5),
        crisis_start=crisis,
        observed=186,
        expected=12.4,
        score=0.99,
        total=412,
        negative_share=0.45,
        expected_negative_share=0.08,
        growth=3.6,
        reach=5_230_000,
        engagement=48_211,
        top_terms=[
            TopTerm(term="老鼠", count=133, lift=41.0),
            TopTerm(term="后厨", count=98, lift=22.5),
            TopTerm(term="食品安全", count=77, lift=9.1),
            TopTerm(term="#海底捞后厨#", count=64, lift=30.2),
            TopTerm(term="退钱", count=21, lift=6.3),
        ],
        top_authors=[
            TopAuthor(id="1642634100", name="新京报", followers=43_500_000, posts=3, engagement=21_000, influence=0.92),
            TopAuthor(id="5044281310", name="吃货小王[怒]", followers=128_000, posts=7, engagement=3_300),
            TopAuthor(id="6123456789", name="深圳美食速報", followers=9_800, posts=2, engagement=150),
        ],
        sample_posts=[
            SamplePost(
                platform="weibo",
                id="4990000000000001",
                author_name="新京报",
                followers=43_500_000,
                reposts=8_812,
                url="https://weibo.com/1642634100/N0000001",
                text="#海底捞后厨# 记者暗访发现后厨有老鼠出没，食品安全问题引关注。[怒][怒]",
                sentiment=0.03,
            ),
            SamplePost(
                platform="weibo",
                id="4990000000000002",
                author_name="吃货小王[怒]",
                followers=128_000,
                reposts=931,
                url="https://weibo.com/5044281310/N0000002",
                text="再也不去了😡 退钱！//@新京报:#海底捞后厨# 记者暗访发现后厨有老鼠出没",
                sentiment=0.01,
            ),
            SamplePost(
                platform="xiaohongshu",
                id="65f0c0ffee",
                author_name="深圳美食速報",
                followers=9_800,
                reposts=12,
                url="https://www.xiaohongshu.com/explore/65f0c0ffee",
                text="看到新聞嚇到了，上週剛帶小孩去吃過，門店還沒有回應嗎？",
                sentiment=0.12,
            ),
        ],
        coordination=Coordination(
            suspected=True, posts=41, accounts=17, share=0.22, reason="17 个新注册账号在 3 分钟内发布相同文案"
        ),
        summary="多家媒体报道海底捞后厨卫生问题，负面讨论在 15 分钟内增长 3.6 倍。",
        created_at=now,
    )


def example_channel(channel_type: str, domain: str = "example.com") -> dict[str, Any]:
    """The least config a channel of this type needs, its addresses under ``domain`` (nothing is sent there)."""
    if channel_type == "email":
        return {
            "name": "email",
            "type": "email",
            "host": f"smtp.{domain}",
            "from": f"聆听告警 <alerts@{domain}>",
            "to": [f"pr-team@{domain}"],
        }
    return {"name": channel_type, "type": channel_type, "url": f"https://{channel_type}.{domain}/hook"}
