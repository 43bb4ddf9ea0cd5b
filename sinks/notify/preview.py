"""An approximate HTML preview of a prepared message as each client shows it (for ``lingting notify render
--html`` and the screenshots in docs/alerts.md). Not used for delivery."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from sinks.notify.channels.base import Prepared

_PAGE = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title><style>
body{{margin:0;padding:24px;background:{bg};font-family:-apple-system,"PingFang SC","Noto Sans CJK SC",
"Microsoft YaHei","Noto Color Emoji",sans-serif;font-size:14px;color:#1f2329}}
.card{{max-width:560px;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12);overflow:hidden}}
.head{{padding:12px 16px;font-weight:600;font-size:16px}} .body{{padding:4px 16px 12px;line-height:1.6}}
.body h3{{font-size:16px;margin:8px 0}} .body ul{{padding-left:20px;margin:4px 0}} .body p{{margin:6px 0}}
blockquote{{margin:6px 0;padding:4px 10px;border-left:3px solid #c9cdd4;color:#4e5969;background:#f7f8fa}}
a{{color:#245bdb;text-decoration:none}} .btns{{display:flex;gap:8px;flex-wrap:wrap;padding:8px 16px 16px}}
.btn{{border:1px solid #d0d3d6;border-radius:6px;padding:6px 14px;color:#1f2329;background:#fff}}
.btn.primary{{background:#3370ff;color:#fff;border-color:#3370ff}} .btn.danger{{background:#e01e5a;color:#fff}}
.label{{color:#8f959e;font-size:12px;margin:0 0 8px}} pre{{white-space:pre-wrap;font-size:12px}}
</style></head><body><p class="label">{label}</p>{content}</body></html>"""

_HEADER_BG = {"red": "#f54a45", "orange": "#ff8800", "yellow": "#ffc60a", "blue": "#3370ff", "green": "#34c724"}


def _markdown(text: str) -> str:
    from markdown_it import MarkdownIt  # ships with rich (typer); docs/preview only

    return MarkdownIt("commonmark", {"html": True, "breaks": True}).render(text)


def _slack_mrkdwn(text: str) -> str:
    out = []
    for line in text.split("\n"):
        quote = line.startswith("> ") or line.startswith("&gt; ")
        line = re.sub(r"^(>|&gt;) ", "", line)
        line = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r'<a href="\1">\2</a>', line)
        line = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", line)
        line = re.sub(r":rotating_light:", "🚨", line).replace(":white_check_mark:", "✅")
        out.append(f"<blockquote>{line}</blockquote>" if quote else f"{line}<br>")
    return "".join(out)


def _buttons(items: list[tuple[str, str, str]]) -> str:
    return (
        "<div class='btns'>"
        + "".join(
            f"<a class='btn {cls}' href='{html.escape(url, quote=True)}'>{html.escape(label)}</a>"
            for label, url, cls in items
        )
        + "</div>"
    )


def _card_page(title: str, bg: str, label: str, *parts: str) -> str:
    """A page showing ``parts`` as one chat card, the way the client draws a bot's message."""
    return _PAGE.format(title=title, bg=bg, label=label, content=f"<div class='card'>{''.join(parts)}</div>")


def preview_html(channel_type: str, prepared: Prepared) -> str:
    body: Any = prepared.body
    if channel_type == "email":
        return body.get_body(("html",)).get_content()
    if channel_type == "dingtalk":
        card = body.get("actionCard") or body.get("markdown")
        btns = [(b["title"], b["actionURL"], "") for b in card.get("btns", [])]
        return _card_page(
            html.escape(card["title"]),
            "#eef0f3",
            "钉钉 DingTalk · 群机器人",
            f"<div class='body'>{_markdown(card['text'])}</div>",
            _buttons(btns) if btns else "",
        )
    if channel_type == "wecom":
        text = body["markdown"]["content"].replace('<font color="warning">', "<span style='color:#ff8800'>")
        text = text.replace("</font>", "</span>")
        return _card_page("WeCom", "#f2f3f5", "企业微信 WeCom · 群机器人", f"<div class='body'>{_markdown(text)}</div>")
    if channel_type == "feishu":
        card = body["card"]
        color = _HEADER_BG.get(card["header"]["template"], "#3370ff")
        parts = []
        for el in card["elements"]:
            if el["tag"] == "div":
                parts.append(f"<div class='body'>{_markdown(el['text']['content'])}</div>")
            elif el["tag"] == "action":
                parts.append(
                    _buttons(
                        [
                            (a["text"]["content"], a["url"], "primary" if a["type"] == "primary" else "")
                            for a in el["actions"]
                        ]
                    )
                )
        head = f"<div class='head' style='background:{color};color:#fff'>{html.escape(card['header']['title']['content'])}</div>"
        return _card_page("Feishu", "#f5f6f7", "飞书 Feishu / Lark · 自定义机器人（消息卡片）", head, *parts)
    if channel_type == "slack":
        parts = []
        for b in body["blocks"]:
            if b["type"] == "header":
                parts.append(f"<div class='head'>{html.escape(b['text']['text'])}</div>")
            elif b["type"] == "section":
                parts.append(f"<div class='body'>{_slack_mrkdwn(b['text']['text'])}</div>")
            elif b["type"] == "divider":
                parts.append("<hr style='border:0;border-top:1px solid #eee'>")
            elif b["type"] == "actions":
                parts.append(_buttons([(e["text"]["text"], e["url"], e.get("style", "")) for e in b["elements"]]))
            elif b["type"] == "context":
                parts.append(f"<div class='body label'>{html.escape(b['elements'][0]['text'])}</div>")
        return _card_page("Slack", "#f8f8f8", "Slack · incoming webhook (Block Kit)", *parts)
    return _PAGE.format(
        title="webhook",
        bg="#fff",
        label="webhook · JSON body",
        content=f"<pre>{html.escape(json.dumps(body, ensure_ascii=False, indent=2))}</pre>",
    )
