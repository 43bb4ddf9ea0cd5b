"""The local stack: a real Kafka 4 broker (KRaft, broker+controller in one JVM) and a real Elasticsearch 8 node,
both run from jars that Maven resolves from Maven Central (``deploy/local/pom.xml``), on 127.0.0.1.

    python -m pipeline.stack up|down|status [--kafka-port N] [--es-port N] [--data-dir D]

Layout of the data dir (default ``<repo>/.stack``, or ``$LINGTING_STACK_DIR``)::

    stack.json                 ports the stack was started with (status/down read them)
    kafka.pid  es.pid          PID files
    logs/kafka.log             broker log (stdout+stderr of the JVM)
    logs/elasticsearch.log     node log
    kafka/                     server.properties, cluster.id, data/ (log.dirs)
    es/                        path.home: data/, tmp/, config/

Nothing here imports a Kafka or Elasticsearch client: health checks speak the Kafka protocol (one Metadata request)
and HTTP (``_cluster/health``) with the standard library.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

from schemas.errors import LingtingError

log = logging.getLogger("lingting.stack")

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = REPO_ROOT / "deploy" / "local"
TARGET_DIR = LOCAL_DIR / "target"
KAFKA_LIB = TARGET_DIR / "kafka-lib"
ES_LIB = TARGET_DIR / "es-lib"
ES_MODULES = TARGET_DIR / "es-modules"
ES_LAUNCHER_JAR = TARGET_DIR / "lingting-local.jar"
BUILD_STAMP = TARGET_DIR / ".lingting-build-stamp"
BUILD_LOG = TARGET_DIR / "mvn-build.log"

# Keep in step with deploy/local/pom.xml (and deploy/compose, deploy/k8s).
KAFKA_VERSION = "4.4.0"
ES_VERSION = "8.19.21"

HOST = "127.0.0.1"
DEFAULT_KAFKA_PORT = 9092
DEFAULT_ES_PORT = 9200
DEFAULT_KAFKA_JAVA_OPTS = "-Xms256m -Xmx768m"
DEFAULT_ES_JAVA_OPTS = "-Xms512m -Xmx1g"
DEFAULT_START_TIMEOUT = 180.0
STOP_GRACE_SECONDS = 30.0

KAFKA = "kafka"
ES = "elasticsearch"
_PID_FILES = {KAFKA: "kafka.pid", ES: "es.pid"}
_LOG_FILES = {KAFKA: "kafka.log", ES: "elasticsearch.log"}
_MAIN_CLASSES = {KAFKA: "kafka.Kafka", ES: "io.lingting.local.EsNode"}


class StackError(LingtingError, RuntimeError):
    """The local stack could not be built, started or stopped; the message says which service, where the log is,
    and shows its last lines."""


@dataclass
class ServiceStatus:
    """One service of the local stack."""

    name: str
    running: bool
    pid: Optional[int]
    address: str
    healthy: bool
    detail: str = ""
    log: str = ""
    start_seconds: Optional[float] = None  # set by up() for a service it started

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

    def __init__(self, services: dict[str, ServiceStatus], data_dir: Path, build_seconds: float = 0.0,
                 total_seconds: Optional[float] = None, already_running: bool = False) -> None:
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
        return {"data_dir": str(self.data_dir), "build_seconds": self.build_seconds,
                "total_seconds": self.total_seconds, "already_running": self.already_running,
                "services": {n: s.to_dict() for n, s in self.items()}}


# ---------------------------------------------------------------------------------------------------------------
# configuration: ports and directories
# ---------------------------------------------------------------------------------------------------------------

def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"${name}={raw!r} is not a port number") from None
    _check_port(port, name)
    return port


def _check_port(port: int, what: str) -> None:
    if not 1 <= port <= 65534:
        raise StackError(f"{what}: port {port} is out of range (1-65534)")


def default_kafka_port() -> int:
    """Kafka's port: ``$LINGTING_STACK_KAFKA_PORT`` or 9092."""
    return _env_port("LINGTING_STACK_KAFKA_PORT", DEFAULT_KAFKA_PORT)


def default_es_port() -> int:
    """Elasticsearch's HTTP port: ``$LINGTING_STACK_ES_PORT`` or 9200."""
    return _env_port("LINGTING_STACK_ES_PORT", DEFAULT_ES_PORT)


def default_data_dir() -> Path:
    """``$LINGTING_STACK_DIR`` or ``<repo>/.stack``."""
    env = os.environ.get("LINGTING_STACK_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / ".stack"


PathLike = Union[str, os.PathLike]


def _data_dir(data_dir: Optional[PathLike]) -> Path:
    return Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()


@dataclass
class _Ports:
    kafka: int
    es: int

    @property
    def controller(self) -> int:
        # KRaft controller listener: right after the client port (9092 -> 9093)
        return self.kafka + 1


def _saved_ports(data: Path) -> Optional[_Ports]:
    try:
        saved = json.loads((data / "stack.json").read_text())
        return _Ports(int(saved["kafka_port"]), int(saved["es_port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ports_for_status(data: Path) -> _Ports:
    return _saved_ports(data) or _Ports(default_kafka_port(), default_es_port())


# ---------------------------------------------------------------------------------------------------------------
# build: Maven resolves the jars
# ---------------------------------------------------------------------------------------------------------------

def _build_inputs_digest() -> str:
    digest = hashlib.sha256()
    files = [LOCAL_DIR / "pom.xml"] + sorted(p for p in (LOCAL_DIR / "src").rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(LOCAL_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _artifacts_present() -> bool:
    return (any(KAFKA_LIB.glob(f"kafka_2.13-{KAFKA_VERSION}.jar"))
            and any(ES_LIB.glob(f"elasticsearch-{ES_VERSION}.jar"))
            and ES_LAUNCHER_JAR.is_file()
            and (ES_MODULES / "transport-netty4" / "plugin-descriptor.properties").is_file()
            and any((ES_MODULES / "lingting-local").glob("*.jar")))


def _require_tool(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise StackError(f"`{tool}` was not found on PATH: the local stack needs it. {hint}")
    return path


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        java = str(Path(home) / "bin" / "java")
    else:
        java = _require_tool("java", "Install Java 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless).")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise StackError(f"`{java} -version` failed: {err}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):
            major = int(match.group(2))
        if major < 17:
            raise StackError(f"{java} is Java {major}; Kafka {KAFKA_VERSION} and Elasticsearch {ES_VERSION} need "
                             "Java 17 or newer (set JAVA_HOME or put a newer java on PATH)")
    return java


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(force: bool = False) -> float:
    """Resolve the Kafka and Elasticsearch jars with Maven and compile the Elasticsearch launcher, unless they are
    there already and ``deploy/local`` did not change. Returns the seconds spent (0.0 when nothing was to do)."""
    if not force and _artifacts_present() and BUILD_STAMP.is_file() \
            and BUILD_STAMP.read_text().strip() == _build_inputs_digest():
        return 0.0
    mvn = _require_tool("mvn", "Install Maven 3.8+ (Debian/Ubuntu: apt-get install maven).")
    _java()
    started = time.monotonic()
    TARGET_DIR.mkdir(parents=True, exist_ok=True)
    with _locked(TARGET_DIR.parent / ".build.lock"):
        if not force and _artifacts_present() and BUILD_STAMP.is_file() \
                and BUILD_STAMP.read_text().strip() == _build_inputs_digest():
            return 0.0  # another process built it while we waited for the lock
        digest = _build_inputs_digest()
        log.info("building the local stack with Maven (Kafka %s, Elasticsearch %s); the first time this downloads "
                 "~125 MB from Maven Central…", KAFKA_VERSION, ES_VERSION)
        # copy-dependencies never deletes jars of older versions: start from empty directories
        for stale in (KAFKA_LIB, ES_LIB, ES_MODULES, TARGET_DIR / "classes"):
            shutil.rmtree(stale, ignore_errors=True)
        BUILD_STAMP.unlink(missing_ok=True)
        with open(BUILD_LOG, "w") as out:
            for profile in ("kafka", "es"):
                cmd = [mvn, "-q", "-B", "-f", str(LOCAL_DIR / "pom.xml"), "-P", profile, "package"]
                out.write(f"$ {shlex.join(cmd)}\n")
                out.flush()
                try:
                    rc = subprocess.run(cmd, cwd=LOCAL_DIR, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL).returncode
                except OSError as err:
                    raise StackError(f"could not run Maven ({mvn}): {err}") from None
                if rc != 0:
                    raise StackError(f"Maven failed (exit {rc}) building the {profile} jars of the local stack "
                                     f"({LOCAL_DIR / 'pom.xml'}, profile {profile}). Full output: {BUILD_LOG}\n"
                                     f"{_tail(BUILD_LOG, 30)}")
        if not _artifacts_present():
            raise StackError(f"Maven succeeded but the expected jars are missing under {TARGET_DIR}; "
                             f"see {BUILD_LOG}")
        BUILD_STAMP.write_text(digest + "\n")
    seconds = time.monotonic() - started
    log.info("local stack built in %.1f s", seconds)
    return seconds


# ---------------------------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------------------------

def _tail(path: Path, lines: int = 25) -> str:
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


def _read_pid(data: Path, service: str) -> Optional[int]:
    try:
        return int((data / _PID_FILES[service]).read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> Optional[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def _alive(pid: int) -> bool:
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


def _is_ours(pid: int, data: Path, service: str) -> bool:
    if not _alive(pid):
        return False
    cmd = _cmdline(pid)
    if cmd is None:  # no /proc (not Linux): trust the PID file
        return True
    return _MAIN_CLASSES[service] in cmd and _marker(data, service) in cmd


def _our_pid(data: Path, service: str, port: Optional[int] = None) -> Optional[int]:
    """The PID of this data dir's ``service``: from its PID file or else (PID file lost) from who listens on
    ``port``."""
    pid = _read_pid(data, service)
    if pid is not None and _is_ours(pid, data, service):
        return pid
    if port is not None:
        for candidate in _listening_pids(port):
            if _is_ours(candidate, data, service):
                return candidate
    return None


def _listening_pids(port: int) -> list[int]:
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


def _port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError):
        with socket.create_connection((host, port), timeout=timeout):
            return True
    return False


def _port_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _describe_port_user(port: int) -> str:
    pids = _listening_pids(port)
    if not pids:
        return "another process"
    described = []
    for pid in pids:
        cmd = (_cmdline(pid) or "?").strip()
        described.append(f"pid {pid}: {cmd[:160]}")
    return "; ".join(described)


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group the service leads (start_new_session=True), or the process alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except OSError:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _stop_pid(pid: int, service: str, grace: float) -> str:
    if not _alive(pid):
        return "was not running"
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return "stopped (SIGTERM)"
        time.sleep(0.2)
    log.warning("%s (pid %d) did not stop within %.0f s of SIGTERM; sending SIGKILL", service, pid, grace)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(pid):
            return "killed (SIGKILL after the grace period)"
        time.sleep(0.1)
    raise StackError(f"{service} (pid {pid}) is still alive after SIGKILL; check `ps -fp {pid}`")


# ---------------------------------------------------------------------------------------------------------------
# health checks (standard library only)
# ---------------------------------------------------------------------------------------------------------------

def _kafka_metadata(port: int, host: str = HOST, timeout: float = 2.0) -> dict:
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

    def string() -> Optional[str]:
        nonlocal pos
        length = take(">h")
        if length < 0:
            return None
        text = payload[pos:pos + length].decode()
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


def _kafka_health(port: int) -> tuple[bool, str]:
    try:
        meta = _kafka_metadata(port)
    except (OSError, ValueError, struct.error) as err:
        return False, f"no Metadata answer on {HOST}:{port}: {err}"
    if not meta["brokers"]:
        return False, "broker answers but lists no brokers yet"
    return True, f"cluster {meta['cluster_id']}, {len(meta['brokers'])} broker"


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via $http_proxy


def _es_health(port: int) -> tuple[bool, str]:
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


_HEALTH = {KAFKA: _kafka_health, ES: _es_health}


def _service_port(ports: _Ports, service: str) -> int:
    return ports.kafka if service == KAFKA else ports.es


def _address(ports: _Ports, service: str) -> str:
    return f"{HOST}:{ports.kafka}" if service == KAFKA else f"http://{HOST}:{ports.es}"


def _service_status(data: Path, ports: _Ports, service: str) -> ServiceStatus:
    port = _service_port(ports, service)
    pid = _our_pid(data, service, port)
    logfile = str(data / "logs" / _LOG_FILES[service])
    if pid is None:
        detail = ""
        if _port_open(port):
            detail = f"port {port} is in use by {_describe_port_user(port)}, not by this stack"
        return ServiceStatus(service, False, None, _address(ports, service), False, detail, logfile)
    healthy, detail = _HEALTH[service](port)
    return ServiceStatus(service, True, pid, _address(ports, service), healthy, detail, logfile)


# ---------------------------------------------------------------------------------------------------------------
# configuration files and start commands
# ---------------------------------------------------------------------------------------------------------------

_LOG4J2 = """\
# written by pipeline/stack.py on every start
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = {pattern}
rootLogger.level = {level}
rootLogger.appenderRef.console.ref = console
{extra}"""


def _kafka_cluster_id(kafka_dir: Path) -> str:
    path = kafka_dir / "cluster.id"
    with contextlib.suppress(OSError):
        existing = path.read_text().strip()
        if existing:
            return existing
    while True:  # Kafka's own rule: 16 random bytes, URL-safe base64 without padding, not starting with "-"
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            break
    path.write_text(candidate + "\n")
    return candidate


def _write_kafka_config(data: Path, ports: _Ports) -> Path:
    kafka_dir = data / "kafka"
    (kafka_dir / "data").mkdir(parents=True, exist_ok=True)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{ports.controller}",
        "listeners": f"PLAINTEXT://{HOST}:{ports.kafka},CONTROLLER://{HOST}:{ports.controller}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{ports.kafka}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(kafka_dir / "data"),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "group.initial.rebalance.delay.ms": "0",
        # a dev box: keep a week, at most 1 GiB per partition
        "log.retention.hours": "168",
        "log.retention.bytes": str(1 << 30),
        "log.segment.bytes": str(64 << 20),
    }
    config = kafka_dir / "server.properties"
    config.write_text("# written by pipeline/stack.py on every start\n"
                      + "".join(f"{key}={value}\n" for key, value in props.items()))
    (kafka_dir / "log4j2.properties").write_text(_LOG4J2.format(
        pattern="[%d] %p %m (%c)%n", level="info",
        extra="logger.request.name = kafka.request.logger\nlogger.request.level = warn\n"
              "logger.state.name = state.change.logger\nlogger.state.level = warn\n"))
    (kafka_dir / "log4j2-tools.properties").write_text(_LOG4J2.format(
        pattern="[%d] %p %m (%c)%n", level="warn", extra=""))
    return config


def _kafka_format(java: str, data: Path, config: Path) -> None:
    kafka_dir = data / "kafka"
    if (kafka_dir / "data" / "meta.properties").is_file():
        return
    cluster_id = _kafka_cluster_id(kafka_dir)
    logfile = data / "logs" / "kafka-format.log"
    cmd = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2-tools.properties'}",
           "-cp", str(KAFKA_LIB / "*"), "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)]
    log.info("formatting Kafka storage in %s (cluster id %s)", kafka_dir / "data", cluster_id)
    with open(logfile, "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            timeout=120).returncode
    if rc != 0:
        raise StackError(f"Kafka storage format failed (exit {rc}) for {kafka_dir / 'data'}. "
                         f"Log: {logfile}\n{_tail(logfile)}")


def _kafka_command(java: str, data: Path, config: Path) -> list[str]:
    opts = shlex.split(os.environ.get("LINGTING_STACK_KAFKA_JAVA_OPTS", DEFAULT_KAFKA_JAVA_OPTS))
    return [java, *opts, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Djava.io.tmpdir={data / 'kafka' / 'tmp'}",
            f"-Dlog4j2.configurationFile={data / 'kafka' / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={data / 'logs'}",
            "-cp", str(KAFKA_LIB / "*"), _MAIN_CLASSES[KAFKA], str(config)]


def _es_command(java: str, data: Path, ports: _Ports) -> list[str]:
    home = data / "es"
    for sub in ("data", "tmp", "config", "logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "log4j2.properties").write_text(_LOG4J2.format(
        pattern="[%d{ISO8601}][%-5p][%-25c{1.}] %m%n", level="info",
        extra="logger.deprecation.name = org.elasticsearch.deprecation\nlogger.deprecation.level = error\n"))
    opts = shlex.split(os.environ.get("LINGTING_STACK_ES_JAVA_OPTS", DEFAULT_ES_JAVA_OPTS))
    return [java, *opts, "-XX:+UseG1GC", "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8",
            "-XX:-OmitStackTraceInFastThrow", "-Dlog4j2.formatMsgNoLookups=true",
            "-Dlog4j.shutdownHookEnabled=false", "-Dlog4j2.disable.jmx=true",
            f"-Djava.io.tmpdir={home / 'tmp'}",
            f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
            f"-Dlingting.es.modules={ES_MODULES}",
            "-cp", f"{ES_LAUNCHER_JAR}{os.pathsep}{ES_LIB / '*'}", _MAIN_CLASSES[ES],
            f"path.home={home}", f"path.data={home / 'data'}", f"path.logs={home / 'logs'}",
            "cluster.name=lingting-local", "node.name=lingting-es",
            f"network.host={HOST}", f"http.port={ports.es}", "transport.port=0",
            # a dev stack collects many small test indices over time
            "cluster.max_shards_per_node=5000"]


def _spawn(service: str, cmd: list[str], data: Path, cwd: Path) -> subprocess.Popen:
    logfile = data / "logs" / _LOG_FILES[service]
    with open(logfile, "ab") as out:
        out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} lingting stack: starting {service}\n"
                  f"$ {shlex.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    (data / _PID_FILES[service]).write_text(f"{proc.pid}\n")
    return proc


# ---------------------------------------------------------------------------------------------------------------
# the API: up / down / status
# ---------------------------------------------------------------------------------------------------------------

def status(data_dir: Optional[PathLike] = None) -> StackStatus:
    """Whether Kafka and Elasticsearch of the stack in ``data_dir`` are running (our PIDs) and healthy."""
    data = _data_dir(data_dir)
    ports = _ports_for_status(data)
    return StackStatus({s: _service_status(data, ports, s) for s in (KAFKA, ES)}, data)


def up(kafka_port: Optional[int] = None, es_port: Optional[int] = None, data_dir: Optional[PathLike] = None,
       timeout: float = DEFAULT_START_TIMEOUT) -> StackStatus:
    """Build if needed, start Kafka and Elasticsearch, and wait until both are healthy (Kafka answers a Metadata
    request, Elasticsearch's cluster health is yellow or green). Idempotent: a healthy stack is left as it is."""
    started = time.monotonic()
    data = _data_dir(data_dir)
    ports = _Ports(kafka_port or default_kafka_port(), es_port or default_es_port())
    _check_port(ports.kafka, "Kafka")
    _check_port(ports.es, "Elasticsearch")
    if len({ports.kafka, ports.controller, ports.es}) < 3:
        raise StackError(f"ports clash: Kafka {ports.kafka} (+ controller {ports.controller}) and "
                         f"Elasticsearch {ports.es} must all differ")
    (data / "logs").mkdir(parents=True, exist_ok=True)
    with _locked(data / ".lock"):
        current = status(data)
        running = {name: svc for name, svc in current.items() if svc.running}
        for name, svc in running.items():  # a PID file may have been lost: write it again
            (data / _PID_FILES[name]).write_text(f"{svc.pid}\n")
        saved = _saved_ports(data)
        if running and saved and (saved.kafka, saved.es) != (ports.kafka, ports.es):
            raise StackError(
                f"the stack in {data} is already running on Kafka {saved.kafka} / Elasticsearch {saved.es}, not "
                f"on the requested {ports.kafka} / {ports.es}. Stop it first (python -m pipeline.stack down "
                f"--data-dir {data}) or use another --data-dir.")
        if current.healthy:
            log.info("local stack already running and healthy: Kafka %s, Elasticsearch %s (%s)",
                     current[KAFKA].address, current[ES].address, data)
            current.already_running = True
            return current

        to_start = [s for s in (KAFKA, ES) if s not in running]
        for service in to_start:
            port = _service_port(ports, service)
            needed = [port] + ([ports.controller] if service == KAFKA else [])
            for p in needed:
                if _port_open(p) or not _port_bindable(p):
                    raise StackError(
                        f"cannot start {service}: port {p} on {HOST} is already in use by {_describe_port_user(p)}. "
                        f"Stop that process, or start the stack on other ports "
                        f"(--kafka-port/--es-port or $LINGTING_STACK_KAFKA_PORT/$LINGTING_STACK_ES_PORT).")

        build_seconds = build() if to_start else 0.0
        java = _java() if to_start else ""
        (data / "stack.json").write_text(json.dumps(
            {"kafka_port": ports.kafka, "kafka_controller_port": ports.controller, "es_port": ports.es,
             "kafka_version": KAFKA_VERSION, "es_version": ES_VERSION}, indent=2) + "\n")

        procs: dict[str, subprocess.Popen] = {}
        spawned_at: dict[str, float] = {}
        try:
            if KAFKA in to_start:
                config = _write_kafka_config(data, ports)
                (data / "kafka" / "tmp").mkdir(exist_ok=True)
                _kafka_format(java, data, config)
                log.info("starting Kafka %s on %s:%d (controller %d), log %s", KAFKA_VERSION, HOST, ports.kafka,
                         ports.controller, data / "logs" / _LOG_FILES[KAFKA])
                spawned_at[KAFKA] = time.monotonic()
                procs[KAFKA] = _spawn(KAFKA, _kafka_command(java, data, config), data, data / "kafka")
            if ES in to_start:
                cmd = _es_command(java, data, ports)
                log.info("starting Elasticsearch %s on http://%s:%d, log %s", ES_VERSION, HOST, ports.es,
                         data / "logs" / _LOG_FILES[ES])
                spawned_at[ES] = time.monotonic()
                procs[ES] = _spawn(ES, cmd, data, data / "es")
            result = _wait_healthy(data, ports, procs, spawned_at, timeout)
        except BaseException:
            for service, proc in procs.items():
                with contextlib.suppress(Exception):
                    _stop_pid(proc.pid, service, grace=10)
                    (data / _PID_FILES[service]).unlink(missing_ok=True)
            raise
    result.build_seconds = build_seconds
    result.total_seconds = time.monotonic() - started
    log.info("%s", result.summary())
    return result


def _wait_healthy(data: Path, ports: _Ports, procs: dict[str, subprocess.Popen], spawned_at: dict[str, float],
                  timeout: float) -> StackStatus:
    deadline = time.monotonic() + timeout
    took: dict[str, float] = {}
    pending = [KAFKA, ES]
    while True:
        for service in list(pending):
            proc = procs.get(service)
            logfile = data / "logs" / _LOG_FILES[service]
            port = _service_port(ports, service)
            if proc is not None and proc.poll() is not None:
                raise StackError(
                    f"{service} exited during start-up (exit code {proc.returncode}) before serving "
                    f"{_address(ports, service)}. Log: {logfile}\n{_tail(logfile)}")
            if proc is None and _our_pid(data, service, port) is None:
                raise StackError(f"{service} (started earlier, {data / _PID_FILES[service]}) is no longer running. "
                                 f"Log: {logfile}\n{_tail(logfile)}")
            healthy, _ = _HEALTH[service](port)
            if healthy:
                pending.remove(service)
                if service in spawned_at:
                    took[service] = time.monotonic() - spawned_at[service]
                    log.info("%s healthy after %.1f s", service, took[service])
        if not pending:
            break
        if time.monotonic() > deadline:
            service = pending[0]
            logfile = data / "logs" / _LOG_FILES[service]
            _, why = _HEALTH[service](_service_port(ports, service))
            raise StackError(
                f"{service} did not become healthy within {timeout:.0f} s on {_address(ports, service)} ({why}). "
                f"{'The process was stopped. ' if service in procs else ''}Log: {logfile}\n{_tail(logfile)}")
        time.sleep(0.5)
    result = status(data)
    for service, seconds in took.items():
        result[service].start_seconds = seconds
    return result


def down(data_dir: Optional[PathLike] = None, timeout: float = STOP_GRACE_SECONDS) -> StackStatus:
    """Stop the stack in ``data_dir``: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Also stops a process
    of this stack found listening on its ports without a PID file. Afterwards the ports are closed."""
    data = _data_dir(data_dir)
    ports = _ports_for_status(data)
    details: dict[str, str] = {}
    with _locked(data / ".lock") if data.is_dir() else contextlib.nullcontext():
        for service in (ES, KAFKA):  # consumers of Kafka first... neither depends on the other; ES is quicker
            pid = _read_pid(data, service)
            outcome = "not running"
            if pid is not None and _is_ours(pid, data, service):
                log.info("stopping %s (pid %d)", service, pid)
                outcome = _stop_pid(pid, service, timeout)
            # by port: a process of this stack whose PID file was lost
            for port in ([ports.kafka, ports.controller] if service == KAFKA else [ports.es]):
                for stray in _listening_pids(port):
                    if _is_ours(stray, data, service):
                        log.info("stopping %s found on port %d (pid %d, no PID file)", service, port, stray)
                        outcome = _stop_pid(stray, service, timeout)
            (data / _PID_FILES[service]).unlink(missing_ok=True)
            details[service] = outcome
        # the ports must be closed now (a JVM releases them as it exits; allow a moment)
        deadline = time.monotonic() + 10
        busy = [p for p in (ports.kafka, ports.controller, ports.es) if _listening_pids(p) or _port_open(p)]
        while busy and time.monotonic() < deadline:
            time.sleep(0.2)
            busy = [p for p in busy if _listening_pids(p) or _port_open(p)]
    result = status(data)
    for service, svc in result.items():
        svc.detail = "; ".join(x for x in (details.get(service, ""), svc.detail) if x)
    if busy:
        log.warning("after stopping the stack, port(s) %s on %s are still in use by: %s", busy, HOST,
                    "; ".join(_describe_port_user(p) for p in busy))
    log.info("local stack stopped (%s)", data)
    return result


# ---------------------------------------------------------------------------------------------------------------
# python -m pipeline.stack
# ---------------------------------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.stack",
                                     description="Local Kafka + Elasticsearch from Maven Central jars.")
    parser.add_argument("command", choices=("up", "down", "status", "build"))
    parser.add_argument("--kafka-port", type=int, default=None, help="default 9092 or $LINGTING_STACK_KAFKA_PORT")
    parser.add_argument("--es-port", type=int, default=None, help="default 9200 or $LINGTING_STACK_ES_PORT")
    parser.add_argument("--data-dir", default=None, help="default <repo>/.stack or $LINGTING_STACK_DIR")
    parser.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT, help="start-up wait, seconds")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    try:
        if args.command == "build":
            seconds = build(force=True)
            print(f"built in {seconds:.1f} s")
            return 0
        if args.command == "up":
            result = up(args.kafka_port, args.es_port, args.data_dir, timeout=args.timeout)
        elif args.command == "down":
            result = down(args.data_dir)
        else:
            result = status(args.data_dir)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        for name, svc in result.items():
            print(f"{name:14} {svc}")
        print(result.summary())
    if args.command == "status":
        return 0 if result.healthy else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
