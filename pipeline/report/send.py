"""Deliver a written report to the configured channels (``reports.channels``, default all of ``notify``).

Each channel gets the report the way its service shows it: a markdown message with the summary, the risks and
the links (DingTalk, WeCom, Feishu, Slack), the PNG attached and the HTML inline (email), or JSON with the
figures and the PNG in base64 (webhook). Delivery goes through the channel's own ``send`` (its signing, error
codes and redaction); the outcome of each is recorded in the report's ``.json`` and shown on the 报告 page.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipeline.report.store import read_meta, write_meta

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger("lingting.report")


def report_links(settings: Settings, files: dict[str, Any]) -> dict[str, str]:
    """Links to the report on the command center (needs ``api.public_url``), else none."""
    base = settings.api.public_url
    if not base:
        return {}
    html = files["html"]
    day = html.parent.name
    return {k: f"{base.rstrip('/')}/reports/{day}/{quote(files[k].name)}" for k in ("html", "png", "pdf") if k in files}


def markdown(report: dict[str, Any], links: dict[str, str], flavor: str = "md") -> str:
    title = report["title"]
    lines = [f"*{title}*" if flavor == "slack" else f"### {title}", "", report["summary"]]
    if report.get("risks"):
        lines += ["", "风险：" if flavor == "slack" else "**风险：**"] + [f"- {r}" for r in report["risks"][:8]]
    if links.get("html"):
        lines += ["", f"<{links['html']}|查看完整报告>" if flavor == "slack" else f"[查看完整报告]({links['html']})"]
    if links.get("png") and flavor == "dingtalk":
        lines += ["", f"![report]({links['png']})"]
    return "\n".join(lines)


def payload(
    channel_type: str, report: dict[str, Any], files: dict[str, Any], links: dict[str, str], config: Any
) -> Any:
    """The message body of one channel type (for email the MIME message)."""
    if channel_type == "dingtalk":
        return {
            "msgtype": "markdown",
            "markdown": {"title": report["title"], "text": markdown(report, links, "dingtalk")},
        }
    if channel_type == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": markdown(report, links)}}
    if channel_type == "feishu":
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {"template": "blue", "title": {"tag": "plain_text", "content": report["title"]}},
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": markdown(report, links)}}],
            },
        }
    if channel_type == "slack":
        return {"text": markdown(report, links, "slack")}
    if channel_type == "webhook":
        return {
            "kind": "report",
            "title": report["title"],
            "report_kind": report["kind"],
            "day": report["day"],
            "summary": report["summary"],
            "risks": report.get("risks", []),
            "links": links,
            "png_base64": base64.b64encode(files["png"].read_bytes()).decode(),
        }
    if channel_type == "email":
        msg = EmailMessage()
        msg["Subject"] = f"{config.subject_prefix} {report['title']}".strip()
        msg["From"] = config.sender
        msg["To"] = ", ".join(config.to)
        if config.cc:
            msg["Cc"] = ", ".join(config.cc)
        msg["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2].strip(">") or "lingting.local")
        msg.set_content(markdown(report, links), charset="utf-8")
        msg.add_alternative(files["html"].read_text(encoding="utf-8"), subtype="html", charset="utf-8")
        msg.add_attachment(files["png"].read_bytes(), maintype="image", subtype="png", filename=files["png"].name)
        if "pdf" in files:
            msg.add_attachment(
                files["pdf"].read_bytes(), maintype="application", subtype="pdf", filename=files["pdf"].name
            )
        return msg
    raise ValueError(f"no report message for channel type {channel_type!r}")


async def send_report(settings: Settings, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Send to each channel once; returns and records [{channel, status, error, at}]."""
    import httpx

    from sinks.notify.channels import Prepared, build_channel
    from sinks.notify.channels.base import DeliveryError
    from sinks.notify.render import Renderer

    report, files = result["report"], result["files"]
    wanted = set(settings.reports.channels)
    configs = [c for c in settings.notify.all_channels() if not wanted or c.name in wanted]
    missing = wanted - {c.name for c in settings.notify.all_channels()}
    outcome: list[dict[str, Any]] = [
        {"channel": n, "status": "failed", "error": "no such channel in notify"} for n in sorted(missing)
    ]
    links = report_links(settings, files)
    timeout = settings.notify.retry.timeout
    async with httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "lingting-report/1"}) as http:
        for cfg in configs:
            channel = build_channel(cfg, Renderer(settings.notify.templates_dir), http)
            key = f"report:{report['kind']}:{report['day']}:{files['html'].stem}"
            entry: dict[str, Any] = {"channel": cfg.name, "at": datetime.now(UTC).isoformat()}
            try:
                await channel.send(
                    Prepared(payload(cfg.type, report, files, links, cfg)), delivery_key=key, timeout=timeout
                )
                entry["status"] = "sent"
            except DeliveryError as err:
                entry.update(status="failed", error=str(err))
                log.warning("report %s to %s failed: %s", report["title"], cfg.name, err)
            outcome.append(entry)
    meta = read_meta(files["json"])
    meta["sent"] = [*(meta.get("sent") or []), *outcome]
    write_meta(files["json"], meta)
    return outcome
