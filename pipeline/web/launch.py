"""Start ``lingting web`` in the background for ``lingting demo``: the demo ends on the command center, which
keeps running with the local stack (like it, until stopped)."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path

import httpx

from pipeline import cli
from pipeline.stack.config import free_port

PREFERRED_PORT = 8088


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve_in_background(
    config: Path, env: dict[str, str], workdir: Path, port: int = PREFERRED_PORT, timeout: float = 30.0
) -> str:
    """Run ``lingting web`` detached on 127.0.0.1 (``port``, or a free one when taken); returns what to print."""
    token = env.get("LINGTING_API_TOKEN") or secrets.token_urlsafe(12)
    port = port if port and _free(port) else free_port()
    log = workdir / "web.log"
    proc = cli.spawn(
        ["web", "--host", "127.0.0.1", "--port", str(port), "--loglevel", "warning"],
        log,
        {**env, "LINGTING_CONFIG": str(config), "LINGTING_API_TOKEN": token},
        detach=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return (
                    f"\n聆听指挥中心 / command center: {url}/crisis\n"
                    f"  登录令牌 / sign-in token: {token}   (operator; log {log})\n"
                    f"  停止 / stop it: kill {proc.pid}"
                )
        except httpx.HTTPError:
            time.sleep(0.3)
    return f"\n指挥中心未能启动 / the command center did not start: see {log}"
