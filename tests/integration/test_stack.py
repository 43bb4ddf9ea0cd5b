"""The local stack (pipeline/stack/) against real processes: Kafka 4 and Elasticsearch 8 from Maven Central jars.

Uses the shared dev stack (default ports / data dir, or $LINGTING_STACK_*), which it starts if needed and leaves
running, plus one throw-away second stack on other ports in a temporary directory, which it stops again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipeline import stack
from pipeline.stack.config import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_stack() -> stack.StackStatus:
    return stack.up()


def _roundtrip_kafka(bootstrap: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    sent = [f"微博 {i} 的帖子".encode() for i in range(10)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for i, value in enumerate(sent):
            producer.send(topic, key=str(i).encode(), value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                got.extend(r.value for r in records)
        partitions = consumer.partitions_for_topic(topic)
    finally:
        consumer.close()
    assert sorted(got) == sorted(sent)
    assert len(partitions) == 3  # num.partitions=3 for auto-created topics


def _roundtrip_es(url: str) -> None:
    from elasticsearch import Elasticsearch

    index = f"stack-test-{uuid.uuid4().hex[:8]}"
    es = Elasticsearch(url, request_timeout=30)
    try:
        assert es.info()["version"]["number"] == stack.ES_VERSION
        es.indices.create(
            index=index,
            mappings={"properties": {"text": {"type": "text", "analyzer": "whitespace"}, "brand": {"type": "keyword"}}},
        )
        es.index(index=index, id="1", document={"text": "华为 手机 发热 严重", "brand": "huawei"}, refresh=True)
        hits = es.search(index=index, query={"match": {"text": "发热"}})["hits"]
        assert hits["total"]["value"] == 1
        assert hits["hits"][0]["_source"]["brand"] == "huawei"
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.close()


def test_import_does_not_load_clients() -> None:
    code = (
        "import sys, pipeline.stack; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('kafka', 'elasticsearch', 'aiokafka')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=stack.REPO_ROOT)


def test_status_reports_both_healthy_after_up(local_stack: stack.StackStatus) -> None:
    result = stack.status()
    assert set(result) == {"kafka", "elasticsearch"}
    for name, svc in result.items():
        assert svc.running and svc.healthy, f"{name}: {svc}"
        assert svc.pid and Path(f"/proc/{svc.pid}").exists()
    assert result["kafka"].address == f"127.0.0.1:{stack.default_kafka_port()}"
    assert result["elasticsearch"].address == f"http://127.0.0.1:{stack.default_es_port()}"


def test_up_twice_is_idempotent(local_stack: stack.StackStatus) -> None:
    before = {name: svc.pid for name, svc in stack.status().items()}
    again = stack.up()
    assert again.already_running and again.healthy
    assert {name: svc.pid for name, svc in again.items()} == before
    assert "already running" in again.summary()


def test_kafka_produce_consume_roundtrip(local_stack: stack.StackStatus) -> None:
    _roundtrip_kafka(local_stack["kafka"].address)


def test_elasticsearch_index_search_roundtrip(local_stack: stack.StackStatus) -> None:
    _roundtrip_es(local_stack["elasticsearch"].address)


def test_status_of_an_empty_data_dir(tmp_path: Path) -> None:
    result = stack.status(data_dir=tmp_path / "nothing-here")
    assert not result.running and not result.healthy
    assert all(svc.pid is None for svc in result.values())


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        with pytest.raises(stack.StackError) as err:
            stack.up(kafka_port=_free_kafka_port(), es_port=busy, data_dir=tmp_path)
        message = str(err.value)
        # says which service and which port, and who holds it (this very test process)
        assert "elasticsearch" in message and str(busy) in message and f"pid {os.getpid()}" in message
    assert not (tmp_path / "es.pid").exists() and not (tmp_path / "kafka.pid").exists()


def _free_kafka_port() -> int:
    """A free port whose next port (the KRaft controller's) is free too."""
    for _ in range(50):
        port = free_port()
        if port < 65534 and _port_free(port + 1):
            return port
    pytest.skip("no free port pair")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _second_stack_ports() -> tuple[int, int]:
    # beside the shared stack's ports (+300, +301, +310) when they are set, so parallel checkouts do not collide
    base = stack.default_kafka_port() + 300 if os.environ.get("LINGTING_STACK_KAFKA_PORT") else 19092
    es_base = stack.default_es_port() + 300 if os.environ.get("LINGTING_STACK_ES_PORT") else 19200
    if all(_port_free(p) for p in (base, base + 1, es_base)) and len({base, base + 1, es_base}) == 3:
        return base, es_base
    for _ in range(50):  # someone uses those: any free kafka/kafka+1/es triple
        kafka, es = free_port(), free_port()
        if len({kafka, kafka + 1, es}) == 3 and all(_port_free(p) for p in (kafka, kafka + 1, es)):
            return kafka, es
    pytest.skip("no free ports for a second stack")


def _pids_using(data_dir: Path) -> list[int]:
    marker = str(data_dir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def test_second_stack_on_other_ports_starts_and_stops_cleanly(tmp_path: Path) -> None:
    kafka_port, es_port = _second_stack_ports()
    data_dir = tmp_path / "second-stack"
    try:
        result = stack.up(kafka_port=kafka_port, es_port=es_port, data_dir=data_dir)
        assert result.healthy, result
        assert result.total_seconds is not None and result.total_seconds > 0
        assert all(svc.start_seconds is not None for svc in result.values())
        pids = [svc.pid for svc in result.values()]
        assert all(pids) and set(pids) <= set(_pids_using(data_dir))
        assert (data_dir / "kafka.pid").is_file() and (data_dir / "es.pid").is_file()
        assert (data_dir / "logs" / "kafka.log").stat().st_size > 0
        assert (data_dir / "logs" / "elasticsearch.log").stat().st_size > 0

        # the shared stack is untouched by a second one
        assert stack.status().healthy

        _roundtrip_kafka(f"127.0.0.1:{kafka_port}")
        _roundtrip_es(f"http://127.0.0.1:{es_port}")

        # one service at a time, as the fault suite drives it
        es_pid = result["elasticsearch"].pid
        assert stack.pause("elasticsearch", data_dir=data_dir) == es_pid
        paused = stack.status(data_dir=data_dir)["elasticsearch"]
        assert paused.running and not paused.healthy, paused  # a hung node: port open, no answer
        stack.resume("elasticsearch", data_dir=data_dir)
        _wait(lambda: stack.status(data_dir=data_dir)["elasticsearch"].healthy, 60, "elasticsearch after SIGCONT")
        stack.kill("kafka", data_dir=data_dir)
        after_kill = stack.status(data_dir=data_dir)
        assert not after_kill["kafka"].running and after_kill["elasticsearch"].healthy
        again = stack.up(kafka_port, es_port, data_dir)  # starts only what is missing
        assert again.healthy and again["elasticsearch"].pid == es_pid and again["kafka"].pid != pids[0]
        assert again["kafka"].address == f"127.0.0.1:{kafka_port}"
        restarted = stack.restart("elasticsearch", data_dir=data_dir)
        assert restarted.healthy and restarted["elasticsearch"].pid != es_pid
        pids = [svc.pid for svc in restarted.values()]
        _roundtrip_kafka(f"127.0.0.1:{kafka_port}")
    finally:
        stopped = stack.down(data_dir=data_dir)

    assert not stopped.running and not stopped.healthy
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} is still running"
    assert _pids_using(data_dir) == []
    assert not (data_dir / "kafka.pid").exists() and not (data_dir / "es.pid").exists()
    for port in (kafka_port, kafka_port + 1, es_port):
        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is still open"
    assert stack.status(data_dir=data_dir).running is False
    # down is idempotent
    assert not stack.down(data_dir=data_dir).running


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)


def test_one_service_commands_name_an_unknown_service(tmp_path: Path) -> None:
    with pytest.raises(stack.StackError, match="unknown service 'zookeeper'"):
        stack.kill("zookeeper", data_dir=tmp_path)
    with pytest.raises(stack.StackError, match="elasticsearch of the stack in .* is not running"):
        stack.pause("elasticsearch", data_dir=tmp_path)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True
