"""Alert → message text, from jinja2 templates (``templates/<lang>/``), overridable by a user directory.

Templates produce text only (title, markdown, Slack mrkdwn, email HTML/plain); the channel modules wrap it in
each service's JSON (card, blocks, ...) and enforce the service's size limits with :func:`fit_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from schemas.alerts import Alert
from sinks.notify.links import LinkSigner

TEMPLATE_DIR = Path(__file__).parent / "templates"
TRUNCATION_MARK = {"zh": "\n…（内容过长，已截断）", "en": "\n… (truncated)"}
SEVERITY_LABEL = {
    "zh": {"low": "低", "medium": "中", "high": "高", "critical": "严重"},
    "en": {"low": "low", "medium": "medium", "high": "high", "critical": "CRITICAL"},
}
STATUS_LABEL = {
    "zh": {"open": "新危机", "update": "危机更新", "resolved": "危机解除"},
    "en": {"open": "new crisis", "update": "crisis update", "resolved": "crisis resolved"},
}
SEVERITY_EMOJI = {"low": "🔵", "medium": "🟡", "high": "🟠", "critical": "🔴"}
SEVERITY_COLOR = {"low": "blue", "medium": "yellow", "high": "orange", "critical": "red"}


@dataclass
class MessageContext:
    """Everything a template may use; built once per (alert, language, escalated)."""

    alert: Alert
    language: str = "zh"
    escalated: bool = False
    links: dict[str, str] = field(default_factory=dict)
    max_sample_posts: int = 3
    timezone: str = "Asia/Shanghai"
    #: The key this message is sent under (the ``X-Lingting-Delivery`` header); default: the alert state's key.
    #: An escalation or a test message carries its own, and the body must say the same key as the header.
    delivery_key: str = ""

    def __post_init__(self) -> None:
        self.delivery_key = self.delivery_key or self.alert.delivery_key

    def as_dict(self) -> dict[str, Any]:
        a, lang = self.alert, self.language
        tz = ZoneInfo(self.timezone)
        return {
            "alert": a,
            "lang": lang,
            "escalated": self.escalated,
            "links": self.links,
            "severity_label": SEVERITY_LABEL[lang][a.severity],
            "status_label": STATUS_LABEL[lang][a.status],
            "emoji": SEVERITY_EMOJI[a.severity],
            "color": SEVERITY_COLOR[a.severity],
            "window": f"{a.window_start.astimezone(tz):%m-%d %H:%M}–{a.window_end.astimezone(tz):%H:%M}",
            "crisis_start": a.crisis_start.astimezone(tz).strftime("%Y-%m-%d %H:%M") if a.crisis_start else None,
            "tz_label": "北京时间" if lang == "zh" and self.timezone == "Asia/Shanghai" else self.timezone,
            "ratio": (a.observed / a.expected) if a.expected > 0 else None,
            "top_terms": a.top_terms[:8],
            "top_authors": a.top_authors[:5],
            "sample_posts": a.sample_posts[: self.max_sample_posts],
        }


def _num(value: float | int | None) -> str:
    """1234 → 1,234; 12345 → 1.2万 (zh) is done by ``wan``; here plain digits grouping."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _wan(value: int | float | None, lang: str = "zh") -> str:
    """Follower counts the way Chinese readers expect them (12.3万); English: 123.4k / 1.2M."""
    if value is None:
        return "—"
    v = float(value)

    def short(x: float) -> str:
        return f"{x:.1f}".rstrip("0").rstrip(".")

    if lang == "zh":
        if v >= 1e8:
            return f"{short(v / 1e8)}亿"
        if v >= 1e4:
            return f"{short(v / 1e4)}万"
        return f"{int(v)}"
    if v >= 1e6:
        return f"{short(v / 1e6)}M"
    if v >= 1e3:
        return f"{short(v / 1e3)}k"
    return f"{int(v)}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md_escape(text: str) -> str:
    """Keep user text (posts, names) from breaking markdown links/emphasis in chat messages."""
    return (text or "").replace("[", "［").replace("]", "］").replace("*", "＊").replace("`", "'")


def _slack_escape(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Renderer:
    """Renders the named template for a context. User templates (``templates_dir/<lang>/<name>``) win."""

    def __init__(self, templates_dir: str | Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir:
            loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
        loaders.append(jinja2.FileSystemLoader(str(TEMPLATE_DIR)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.html_env = self.env.overlay(autoescape=True)
        for env in (self.env, self.html_env):
            env.filters.update(
                num=_num,
                wan=_wan,
                pct=_pct,
                shorten=_shorten,
                md=_md_escape,
                slack=_slack_escape,
                urlquote=lambda s: quote(str(s), safe=""),
            )

    def render(self, name: str, ctx: MessageContext, **extra: Any) -> str:
        env = self.html_env if name.endswith(".html.j2") else self.env
        template = env.get_template(f"{ctx.language}/{name}")
        return template.render(**ctx.as_dict(), **extra).strip()


def fit_bytes(text: str, max_bytes: int, mark: str = TRUNCATION_MARK["zh"]) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes (never mid-character, preferably at a line end),
    appending ``mark``. Never raises: a service's size limit must not make a delivery fail."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(0, max_bytes - len(mark.encode("utf-8")))
    cut = data[:room].decode("utf-8", errors="ignore")
    nl = cut.rfind("\n")
    if nl > len(cut) * 0.6:
        cut = cut[:nl]
    return cut + mark if len((cut + mark).encode()) <= max_bytes else cut


def markdown_with_links(
    renderer: Renderer, ctx: MessageContext, *, flavor: str, max_bytes: int, links: bool = True, suffix: str = ""
) -> str:
    """Markdown body truncated to fit ``max_bytes`` together with the action links (and ``suffix``, e.g.
    @mentions), which are appended after the cut so they survive any truncation."""
    body = renderer.render("markdown.md.j2", ctx, flavor=flavor)
    tail = renderer.render("links.md.j2", ctx) if links and ctx.links else ""
    tail = "\n\n".join(t for t in (tail, suffix) if t)
    room = max_bytes - (len(tail.encode("utf-8")) + 2 if tail else 0)
    body = fit_bytes(body, max(200, room), TRUNCATION_MARK[ctx.language])
    return fit_bytes(f"{body}\n\n{tail}" if tail else body, max_bytes, TRUNCATION_MARK[ctx.language])


def fit_chars(text: str, max_chars: int, mark: str = "…") -> str:
    return text if len(text) <= max_chars else text[: max(0, max_chars - len(mark))] + mark


def kibana_posts_link(kibana_url: str | None, alert: Alert, posts_alias: str) -> str | None:
    """Discover link to the brand's posts during the alert window (negative first)."""
    if not kibana_url:
        return None
    start = alert.window_start.astimezone(UTC).isoformat().replace("+00:00", "Z")
    end = alert.window_end.astimezone(UTC).isoformat().replace("+00:00", "Z")
    brand = alert.brand.replace("'", "!'").replace('"', '\\"')
    g = f"(time:(from:'{start}',to:'{end}'))"
    a = f"(query:(language:kuery,query:'brands:\"{brand}\" and sentiment.label:negative'))"
    return f"{kibana_url.rstrip('/')}/app/discover#/?_g={quote(g, safe='(),:')}&_a={quote(a, safe='(),:')}"


def build_links(
    alert: Alert, *, signer: LinkSigner | None, kibana_url: str | None, posts_alias: str, now: float | None = None
) -> dict[str, str]:
    links: dict[str, str] = {}
    if signer is not None:
        links.update(signer.links(alert.id, now=now))
    if posts := kibana_posts_link(kibana_url, alert, posts_alias):
        links["posts"] = posts  # Kibana Discover beats the API's JSON list when configured
    return links


def now_utc() -> datetime:
    return datetime.now(UTC)
