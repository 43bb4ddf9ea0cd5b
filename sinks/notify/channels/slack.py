"""Slack incoming webhook, Block Kit: header, mrkdwn sections (3000 characters each), sample posts, and URL
buttons to the acknowledge API. Slack allows about one message per second per webhook, 50 blocks a message;
errors come as HTTP status + plain-text body (``invalid_payload``, ``no_service``...)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from sinks.notify.channels.base import BUTTON_LABELS, HttpChannel, HttpChannelConfig, Prepared
from sinks.notify.render import MessageContext, fit_chars

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
MAX_BLOCKS = 50


def _split(text: str, limit: int) -> list[str]:
    """Split at line ends into chunks of at most ``limit`` characters."""
    chunks, current = [], ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current.strip():
        chunks.append(current)
    return [c.rstrip("\n") for c in chunks if c.strip()]


class SlackConfig(HttpChannelConfig):
    """Slack incoming webhook, Block Kit message."""

    env_fields = ("url",)

    type: Literal["slack"]
    url: SecretStr = Field(description="https://hooks.slack.com/services/...")


class SlackChannel(HttpChannel[SlackConfig]):
    type = "slack"
    config_class = SlackConfig
    default_rate = (1, 1.0)

    def payload(self, ctx: MessageContext) -> Prepared:
        title = self.renderer.render("title.txt.j2", ctx)
        text = self.renderer.render("slack.mrkdwn.j2", ctx)
        blocks: list[dict] = [
            {"type": "header", "text": {"type": "plain_text", "text": fit_chars(title, HEADER_LIMIT), "emoji": True}}
        ]
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in _split(text, SECTION_LIMIT)
        ]
        posts = [self.renderer.render("slack_post.mrkdwn.j2", ctx, post=p) for p in ctx.as_dict()["sample_posts"]]
        if posts:
            blocks.append({"type": "divider"})
            blocks += [
                {"type": "section", "text": {"type": "mrkdwn", "text": fit_chars(p, SECTION_LIMIT)}} for p in posts
            ]
        labels = BUTTON_LABELS[ctx.language]
        buttons = [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": labels[a], "emoji": True},
                "url": ctx.links[a],
                "action_id": f"lingting-{a}",
                **({"style": "danger" if ctx.escalated else "primary"} if a == "acknowledge" else {}),
            }
            for a in ("acknowledge", "assign", "resolve", "posts")
            if a in ctx.links
        ]
        tail: list[dict] = [
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": fit_chars(f"{ctx.alert.id} · #{ctx.alert.sequence}", SECTION_LIMIT)}
                ],
            }
        ]
        if buttons:
            tail.insert(0, {"type": "actions", "elements": buttons})
        blocks = blocks[: MAX_BLOCKS - len(tail)] + tail
        return Prepared({"text": title, "blocks": blocks})  # text: the notification/fallback line
