"""Where reports live: ``<reports.dir>/<YYYY-MM-DD>/<kind>-<slug>.{html,png,pdf,json}``, browsable by date.

The ``.json`` beside each report holds its title and, once sent, where and when (the web page lists it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def list_reports(root: Path) -> list[dict[str, Any]]:
    """Days newest first, each with its reports (title, html, other files, sent)."""
    if not root.is_dir():
        return []
    days = []
    for day in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        reports = []
        for meta in sorted(day.glob("*.json")):
            try:
                info = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            stem = meta.stem
            files = [p.name for p in sorted(day.glob(f"{stem}.*")) if p.suffix in (".png", ".pdf")]
            sent = info.get("sent") or []
            reports.append(
                {
                    "title": info.get("title", stem),
                    "html": f"{stem}.html",
                    "files": files,
                    "sent": ", ".join(f"{s['channel']} {s['status']}" for s in sent),
                }
            )
        if reports:
            days.append({"day": day.name, "reports": reports})
    return days


def write_meta(path: Path, info: dict[str, Any]) -> None:
    path.write_text(json.dumps(info, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def read_meta(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
