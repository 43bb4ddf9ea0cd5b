"""The Kafka broker: KRaft broker+controller in one JVM, its server.properties, storage format and command."""

from __future__ import annotations

import base64
import contextlib
import logging
import subprocess
import uuid
from pathlib import Path

from pipeline.stack.config import (
    DEFAULT_KAFKA_JAVA_OPTS,
    HOST,
    KAFKA,
    KAFKA_LIB,
    LOG4J2,
    MAIN_CLASSES,
    Ports,
    StackError,
    jvm_args,
)
from pipeline.stack.process import tail

log = logging.getLogger("lingting.stack")


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


def write_kafka_config(data: Path, ports: Ports, secure: bool = False) -> Path:
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
    if secure:
        from pipeline.stack.secure import listener_props

        extra = listener_props(data, ports)
        props["listeners"] += "," + extra.pop("listeners+")
        props["advertised.listeners"] += "," + ",".join(
            x for x in props["listeners"].split(",") if not x.startswith(("PLAINTEXT:", "CONTROLLER:"))
        )
        props["listener.security.protocol.map"] += "," + extra.pop("listener.security.protocol.map+")
        props.update(extra)
    config = kafka_dir / "server.properties"
    config.write_text(
        "# written by pipeline/stack/ (lingting stack up) on every start\n"
        + "".join(f"{key}={value}\n" for key, value in props.items())
    )
    (kafka_dir / "log4j2.properties").write_text(
        LOG4J2.format(
            pattern="[%d] %p %m (%c)%n",
            level="info",
            extra="logger.request.name = kafka.request.logger\nlogger.request.level = warn\n"
            "logger.state.name = state.change.logger\nlogger.state.level = warn\n",
        )
    )
    (kafka_dir / "log4j2-tools.properties").write_text(
        LOG4J2.format(pattern="[%d] %p %m (%c)%n", level="warn", extra="")
    )
    return config


def format_kafka_storage(java: str, data: Path, config: Path, secure: bool = False) -> None:
    kafka_dir = data / "kafka"
    if (kafka_dir / "data" / "meta.properties").is_file():
        return
    cluster_id = _kafka_cluster_id(kafka_dir)
    logfile = data / "logs" / "kafka-format.log"
    cmd = [
        java,
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2-tools.properties'}",
        "-cp",
        str(KAFKA_LIB / "*"),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(config),
    ]
    if secure:
        from pipeline.stack.secure import scram_format_args

        cmd += scram_format_args()
    log.info("formatting Kafka storage in %s (cluster id %s)", kafka_dir / "data", cluster_id)
    with open(logfile, "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120).returncode
    if rc != 0:
        raise StackError(
            f"Kafka storage format failed (exit {rc}) for {kafka_dir / 'data'}. Log: {logfile}\n{tail(logfile)}"
        )


def kafka_command(java: str, data: Path, config: Path) -> list[str]:
    return [
        *jvm_args(java, "LINGTING_STACK_KAFKA_JAVA_OPTS", DEFAULT_KAFKA_JAVA_OPTS, data / "kafka"),
        "-XX:MaxGCPauseMillis=20",
        f"-Dkafka.logs.dir={data / 'logs'}",
        "-cp",
        str(KAFKA_LIB / "*"),
        MAIN_CLASSES[KAFKA],
        str(config),
    ]
