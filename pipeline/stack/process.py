"""The JVM processes: PID files, whether a PID is this data dir's service, who listens on a port, spawn, signal
and stop (Linux /proc; the stack never kills a process it cannot prove is its own)."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from pipeline.stack.config import (
    HOST,
    KAFKA,
    LOG_FILES,
    MAIN_CLASSES,
    PID_FILES,
    StackError,
)

log = logging.getLogger("lingting.stack")


def tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return f"    (no log at {path})"
    last = text.splitlines()[-lines:]
    return "\n".join("    | " + line[:400] for line in last) if last else f"    (log {path} is empty)"


def read_pid(data: Path, service: str) -> int | None:
    try:
        return int((data / PID_FILES[service]).read_text().strip())
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> str | None:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
        if done == pid:
            return False
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _marker(data: Path, service: str) -> str:
    """A string only the command line of *this* data dir's process of ``service`` contains."""
    if service == KAFKA:
        return str(data / "kafka" / "server.properties")
    return f"path.home={data / 'es'}"


def is_ours(pid: int, data: Path, service: str) -> bool:
    if not alive(pid):
        return False
    cmd = cmdline(pid)
    if cmd is None:  # no /proc (not Linux): trust the PID file
        return True
    return MAIN_CLASSES[service] in cmd and _marker(data, service) in cmd


def our_pid(data: Path, service: str, port: int | None = None) -> int | None:
    """The PID of this data dir's ``service``: from its PID file or else (PID file lost) from who listens on
    ``port``."""
    pid = read_pid(data, service)
    if pid is not None and is_ours(pid, data, service):
        return pid
    if port is not None:
        for candidate in listening_pids(port):
            if is_ours(candidate, data, service):
                return candidate
    return None


def listening_pids(port: int) -> list[int]:
    """PIDs with a TCP socket listening on ``port`` (Linux /proc; empty elsewhere or when not visible)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    if not inodes:
        return []
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        pids.append(int(proc.name))
                        break
    return pids


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError):
        with socket.create_connection((host, port), timeout=timeout):
            return True
    return False


def port_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def describe_port_user(port: int) -> str:
    pids = listening_pids(port)
    if not pids:
        return "another process"
    described = []
    for pid in pids:
        cmd = (cmdline(pid) or "?").strip()
        described.append(f"pid {pid}: {cmd[:160]}")
    return "; ".join(described)


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group the service leads (start_new_session=True), or the process alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except OSError:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def stop_pid(pid: int, service: str, grace: float) -> str:
    if not alive(pid):
        return "was not running"
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return "stopped (SIGTERM)"
        time.sleep(0.2)
    log.warning("%s (pid %d) did not stop within %.0f s of SIGTERM; sending SIGKILL", service, pid, grace)
    signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not alive(pid):
            return "killed (SIGKILL after the grace period)"
        time.sleep(0.1)
    raise StackError(f"{service} (pid {pid}) is still alive after SIGKILL; check `ps -fp {pid}`")


def spawn(service: str, cmd: list[str], data: Path, cwd: Path) -> subprocess.Popen:
    logfile = data / "logs" / LOG_FILES[service]
    with open(logfile, "ab") as out:
        out.write(
            f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} lingting stack: starting {service}\n"
            f"$ {shlex.join(cmd)}\n".encode()
        )
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    (data / PID_FILES[service]).write_text(f"{proc.pid}\n")
    return proc
