"""Where the local stack lives: versions, ports (``$LINGTING_STACK_KAFKA_PORT``/``ES_PORT``), the data dir
(``$LINGTING_STACK_DIR``, default ``<repo>/.stack``) and the jar paths Maven fills."""

from __future__ import annotations

import json
import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import LingtingError

REPO_ROOT = Path(__file__).resolve().parents[2]
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
PID_FILES = {KAFKA: "kafka.pid", ES: "es.pid"}
LOG_FILES = {KAFKA: "kafka.log", ES: "elasticsearch.log"}
MAIN_CLASSES = {KAFKA: "kafka.Kafka", ES: "io.lingting.local.EsNode"}


class StackError(LingtingError, RuntimeError):
    """The local stack could not be built, started or stopped; the message says which service, where the log is,
    and shows its last lines."""


def env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"${name}={raw!r} is not a port number") from None
    check_port(port, name)
    return port


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on at this moment (the system picks it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def check_port(port: int, what: str) -> None:
    if not 1 <= port <= 65534:
        raise StackError(f"{what}: port {port} is out of range (1-65534)")


def default_kafka_port() -> int:
    """Kafka's port: ``$LINGTING_STACK_KAFKA_PORT`` or 9092."""
    return env_port("LINGTING_STACK_KAFKA_PORT", DEFAULT_KAFKA_PORT)


def default_es_port() -> int:
    """Elasticsearch's HTTP port: ``$LINGTING_STACK_ES_PORT`` or 9200."""
    return env_port("LINGTING_STACK_ES_PORT", DEFAULT_ES_PORT)


def default_data_dir() -> Path:
    """``$LINGTING_STACK_DIR`` or ``<repo>/.stack``."""
    env = os.environ.get("LINGTING_STACK_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / ".stack"


PathLike = str | os.PathLike


def resolve_data_dir(data_dir: PathLike | None) -> Path:
    return Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()


@dataclass
class Ports:
    kafka: int
    es: int

    @property
    def controller(self) -> int:
        # KRaft controller listener: right after the client port (9092 -> 9093)
        return self.kafka + 1


def saved_ports(data: Path) -> Ports | None:
    try:
        saved = json.loads((data / "stack.json").read_text())
        return Ports(int(saved["kafka_port"]), int(saved["es_port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ports_for_status(data: Path) -> Ports:
    return saved_ports(data) or Ports(default_kafka_port(), default_es_port())


LOG4J2 = """\
# written by pipeline/stack/ (lingting stack up) on every start
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = {pattern}
rootLogger.level = {level}
rootLogger.appenderRef.console.ref = console
{extra}"""


def jvm_args(java: str, opts_env: str, default_opts: str, home: Path) -> list[str]:
    """How both nodes' command lines begin: the heap and any extra flags from ``$opts_env`` (else
    ``default_opts``), G1, no display, and their temporary files and log4j2 config under ``home``."""
    return [
        java,
        *shlex.split(os.environ.get(opts_env, default_opts)),
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Djava.io.tmpdir={home / 'tmp'}",
        f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
    ]
