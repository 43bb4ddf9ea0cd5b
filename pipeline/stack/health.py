"""Health and status of the services, with the standard library only: one Kafka Metadata request and
Elasticsearch's ``_cluster/health``, so ``lingting stack status`` loads no client."""

from __future__ import annotations

import json
import logging
import socket
import struct
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.stack.config import ES, HOST, KAFKA, LOG_FILES, Ports
from pipeline.stack.process import describe_port_user, our_pid, port_open

log = logging.getLogger("lingting.stack")


@dataclass
class ServiceStatus:
    """One service of the local stack."""

    name: str
    running: bool
    pid: int | None
    address: str
    healthy: bool
    detail: str = ""
    log: str = ""
    start_seconds: float | None = None  # set by up() for a service it started

    def __str__(self) -> str:
        state = "healthy" if self.healthy else ("running, NOT healthy" if self.running else "stopped")
        parts = [f"{state:8}", self.address]
        if self.pid:
            parts.append(f"pid {self.pid}")
        if self.start_seconds is not None:
            parts.append(f"started in {self.start_seconds:.1f} s")
        if self.detail:
            parts.append(f"({self.detail})")
        return "  ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


class StackStatus(dict):
    """``{"kafka": ServiceStatus, "elasticsearch": ServiceStatus}`` plus timings of the call that produced it."""

    def __init__(
        self,
        services: dict[str, ServiceStatus],
        data_dir: Path,
        build_seconds: float = 0.0,
        total_seconds: float | None = None,
        already_running: bool = False,
    ) -> None:
        super().__init__(services)
        self.data_dir = data_dir
        self.build_seconds = build_seconds
        self.total_seconds = total_seconds
        self.already_running = already_running

    @property
    def healthy(self) -> bool:
        return all(s.healthy for s in self.values())

    @property
    def running(self) -> bool:
        return any(s.running for s in self.values())

    def summary(self) -> str:
        """One line for people: ``stack up in 23.4 s (build 0.0 s, kafka 12.1 s, elasticsearch 10.3 s)``."""
        if self.already_running:
            return f"stack already running and healthy ({self.data_dir})"
        if self.total_seconds is None:
            state = "healthy" if self.healthy else ("running, not healthy" if self.running else "stopped")
            return f"stack {state} ({self.data_dir})"
        parts = [f"build {self.build_seconds:.1f} s"]
        parts += [f"{n} {s.start_seconds:.1f} s" for n, s in self.items() if s.start_seconds is not None]
        return f"stack up in {self.total_seconds:.1f} s ({', '.join(parts)})"

    def to_dict(self) -> dict:
        return {
            "data_dir": str(self.data_dir),
            "build_seconds": self.build_seconds,
            "total_seconds": self.total_seconds,
            "already_running": self.already_running,
            "services": {n: s.to_dict() for n, s in self.items()},
        }


def kafka_metadata(port: int, host: str = HOST, timeout: float = 2.0) -> dict:
    """One Metadata v4 request (no topics): the broker's view of the cluster. Raises OSError/ValueError if the
    broker does not answer it properly."""
    client_id = b"lingting-stack"
    correlation = 0x4C54
    body = struct.pack(">hhih", 3, 4, correlation, len(client_id)) + client_id
    body += struct.pack(">i", 0) + b"\x00"  # topics: empty array (none), allow_auto_topic_creation: false
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        if not 0 < size < 10_000_000:
            raise ValueError(f"implausible Kafka response size {size}")
        payload = _recv_exact(sock, size)
    pos = 0

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from(fmt, payload, pos)
        pos += struct.calcsize(fmt)
        return values[0] if len(values) == 1 else values

    def string() -> str | None:
        nonlocal pos
        length = take(">h")
        if length < 0:
            return None
        text = payload[pos : pos + length].decode()
        pos += length
        return text

    if take(">i") != correlation:
        raise ValueError("Kafka answered another request")
    take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(take(">i")):
        node_id = take(">i")
        broker_host = string()
        broker_port = take(">i")
        string()  # rack
        brokers.append((node_id, broker_host, broker_port))
    cluster_id = string()
    controller_id = take(">i")
    return {"brokers": brokers, "cluster_id": cluster_id, "controller_id": controller_id}


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def kafka_health(port: int) -> tuple[bool, str]:
    try:
        meta = kafka_metadata(port)
    except (OSError, ValueError, struct.error) as err:
        return False, f"no Metadata answer on {HOST}:{port}: {err}"
    if not meta["brokers"]:
        return False, "broker answers but lists no brokers yet"
    return True, f"cluster {meta['cluster_id']}, {len(meta['brokers'])} broker"


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via $http_proxy


def es_health(port: int) -> tuple[bool, str]:
    url = f"http://{HOST}:{port}/_cluster/health"
    try:
        with _NO_PROXY.open(url, timeout=3) as response:
            product = response.headers.get("X-elastic-product")
            body = json.loads(response.read().decode())
    except urllib.error.HTTPError as err:
        return False, f"{url} answered HTTP {err.code}"
    except (OSError, ValueError) as err:
        return False, f"no answer from {url}: {getattr(err, 'reason', err)}"
    if product != "Elasticsearch":
        return False, f"{url} is not Elasticsearch (X-Elastic-Product: {product})"
    status = body.get("status")
    return status in ("green", "yellow"), f"cluster {body.get('cluster_name')} {status}"


HEALTH = {KAFKA: kafka_health, ES: es_health}


def service_port(ports: Ports, service: str) -> int:
    return ports.kafka if service == KAFKA else ports.es


def service_address(ports: Ports, service: str) -> str:
    return f"{HOST}:{ports.kafka}" if service == KAFKA else f"http://{HOST}:{ports.es}"


def service_status(data: Path, ports: Ports, service: str) -> ServiceStatus:
    port = service_port(ports, service)
    pid = our_pid(data, service, port)
    logfile = str(data / "logs" / LOG_FILES[service])
    if pid is None:
        detail = ""
        if port_open(port):
            detail = f"port {port} is in use by {describe_port_user(port)}, not by this stack"
        return ServiceStatus(service, False, None, service_address(ports, service), False, detail, logfile)
    healthy, detail = HEALTH[service](port)
    return ServiceStatus(service, True, pid, service_address(ports, service), healthy, detail, logfile)
