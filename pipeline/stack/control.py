"""The stack as a whole (``up``/``down``/``status``) and one service at a time (``stop_service``, ``kill``,
``pause``/``resume`` with SIGSTOP/SIGCONT, ``start_service``), which the fault suite uses."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import subprocess
import time
from pathlib import Path

from pipeline.stack.build import build, find_java, locked
from pipeline.stack.config import (
    DEFAULT_START_TIMEOUT,
    ES,
    ES_VERSION,
    HOST,
    KAFKA,
    KAFKA_VERSION,
    LOG_FILES,
    PID_FILES,
    STOP_GRACE_SECONDS,
    PathLike,
    Ports,
    StackError,
    check_port,
    default_es_port,
    default_kafka_port,
    ports_for_status,
    resolve_data_dir,
    saved_ports,
)
from pipeline.stack.es_node import es_command
from pipeline.stack.health import (
    HEALTH,
    StackStatus,
    service_address,
    service_port,
    service_status,
)
from pipeline.stack.kafka_node import (
    format_kafka_storage,
    kafka_command,
    write_kafka_config,
)
from pipeline.stack.process import (
    describe_port_user,
    is_ours,
    listening_pids,
    our_pid,
    port_bindable,
    port_open,
    read_pid,
    signal_group,
    spawn,
    stop_pid,
    tail,
)

log = logging.getLogger("lingting.stack")


def status(data_dir: PathLike | None = None) -> StackStatus:
    """Whether Kafka and Elasticsearch of the stack in ``data_dir`` are running (our PIDs) and healthy."""
    data = resolve_data_dir(data_dir)
    ports = ports_for_status(data)
    return StackStatus({s: service_status(data, ports, s) for s in (KAFKA, ES)}, data)


def up(
    kafka_port: int | None = None,
    es_port: int | None = None,
    data_dir: PathLike | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    secure: bool = False,
) -> StackStatus:
    """Build if needed, start Kafka and Elasticsearch, and wait until both are healthy (Kafka answers a Metadata
    request, Elasticsearch's cluster health is yellow or green). Idempotent: a healthy stack is left as it is."""
    started = time.monotonic()
    data = resolve_data_dir(data_dir)
    ports = Ports(kafka_port or default_kafka_port(), es_port or default_es_port())
    check_port(ports.kafka, "Kafka")
    check_port(ports.es, "Elasticsearch")
    if len({ports.kafka, ports.controller, ports.es}) < 3:
        raise StackError(
            f"ports clash: Kafka {ports.kafka} (+ controller {ports.controller}) and "
            f"Elasticsearch {ports.es} must all differ"
        )
    (data / "logs").mkdir(parents=True, exist_ok=True)
    with locked(data / ".lock"):
        current = status(data)
        running = {name: svc for name, svc in current.items() if svc.running}
        for name, svc in running.items():  # a PID file may have been lost: write it again
            (data / PID_FILES[name]).write_text(f"{svc.pid}\n")
        saved = saved_ports(data)
        if running and saved and (saved.kafka, saved.es) != (ports.kafka, ports.es):
            raise StackError(
                f"the stack in {data} is already running on Kafka {saved.kafka} / Elasticsearch {saved.es}, not "
                f"on the requested {ports.kafka} / {ports.es}. Stop it first (lingting stack down "
                f"--data-dir {data}) or use another --data-dir."
            )
        if current.healthy:
            log.info(
                "local stack already running and healthy: Kafka %s, Elasticsearch %s (%s)",
                current[KAFKA].address,
                current[ES].address,
                data,
            )
            current.already_running = True
            return current

        to_start = [s for s in (KAFKA, ES) if s not in running]
        for service in to_start:
            port = service_port(ports, service)
            needed = [port] + ([ports.controller] if service == KAFKA else [])
            for p in needed:
                if port_open(p) or not port_bindable(p):
                    raise StackError(
                        f"cannot start {service}: port {p} on {HOST} is already in use by {describe_port_user(p)}. "
                        f"Stop that process, or start the stack on other ports "
                        f"(--kafka-port/--es-port or $LINGTING_STACK_KAFKA_PORT/$LINGTING_STACK_ES_PORT)."
                    )

        build_seconds = build() if to_start else 0.0
        java = find_java() if to_start else ""
        (data / "stack.json").write_text(
            json.dumps(
                {
                    "kafka_port": ports.kafka,
                    "kafka_controller_port": ports.controller,
                    "es_port": ports.es,
                    "kafka_version": KAFKA_VERSION,
                    "es_version": ES_VERSION,
                },
                indent=2,
            )
            + "\n"
        )

        procs: dict[str, subprocess.Popen] = {}
        spawned_at: dict[str, float] = {}
        try:
            if KAFKA in to_start:
                config = write_kafka_config(data, ports, secure)
                (data / "kafka" / "tmp").mkdir(exist_ok=True)
                format_kafka_storage(java, data, config, secure)
                log.info(
                    "starting Kafka %s on %s:%d (controller %d), log %s",
                    KAFKA_VERSION,
                    HOST,
                    ports.kafka,
                    ports.controller,
                    data / "logs" / LOG_FILES[KAFKA],
                )
                spawned_at[KAFKA] = time.monotonic()
                procs[KAFKA] = spawn(KAFKA, kafka_command(java, data, config), data, data / "kafka")
            if ES in to_start:
                cmd = es_command(java, data, ports)
                log.info(
                    "starting Elasticsearch %s on http://%s:%d, log %s",
                    ES_VERSION,
                    HOST,
                    ports.es,
                    data / "logs" / LOG_FILES[ES],
                )
                spawned_at[ES] = time.monotonic()
                procs[ES] = spawn(ES, cmd, data, data / "es")
            result = _wait_healthy(data, ports, procs, spawned_at, timeout)
        except BaseException:
            for service, proc in procs.items():
                with contextlib.suppress(Exception):
                    stop_pid(proc.pid, service, grace=10)
                    (data / PID_FILES[service]).unlink(missing_ok=True)
            raise
    result.build_seconds = build_seconds
    result.total_seconds = time.monotonic() - started
    log.info("%s", result.summary())
    return result


def _wait_healthy(
    data: Path, ports: Ports, procs: dict[str, subprocess.Popen], spawned_at: dict[str, float], timeout: float
) -> StackStatus:
    deadline = time.monotonic() + timeout
    took: dict[str, float] = {}
    pending = [KAFKA, ES]
    while True:
        for service in list(pending):
            proc = procs.get(service)
            logfile = data / "logs" / LOG_FILES[service]
            port = service_port(ports, service)
            if proc is not None and proc.poll() is not None:
                raise StackError(
                    f"{service} exited during start-up (exit code {proc.returncode}) before serving "
                    f"{service_address(ports, service)}. Log: {logfile}\n{tail(logfile)}"
                )
            if proc is None and our_pid(data, service, port) is None:
                raise StackError(
                    f"{service} (started earlier, {data / PID_FILES[service]}) is no longer running. "
                    f"Log: {logfile}\n{tail(logfile)}"
                )
            healthy, _ = HEALTH[service](port)
            if healthy:
                pending.remove(service)
                if service in spawned_at:
                    took[service] = time.monotonic() - spawned_at[service]
                    log.info("%s healthy after %.1f s", service, took[service])
        if not pending:
            break
        if time.monotonic() > deadline:
            service = pending[0]
            logfile = data / "logs" / LOG_FILES[service]
            _, why = HEALTH[service](service_port(ports, service))
            raise StackError(
                f"{service} did not become healthy within {timeout:.0f} s on {service_address(ports, service)} ({why}). "
                f"{'The process was stopped. ' if service in procs else ''}Log: {logfile}\n{tail(logfile)}"
            )
        time.sleep(0.5)
    result = status(data)
    for service, seconds in took.items():
        result[service].start_seconds = seconds
    return result


def down(data_dir: PathLike | None = None, timeout: float = STOP_GRACE_SECONDS) -> StackStatus:
    """Stop the stack in ``data_dir``: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Also stops a process
    of this stack found listening on its ports without a PID file. Afterwards the ports are closed."""
    data = resolve_data_dir(data_dir)
    ports = ports_for_status(data)
    details: dict[str, str] = {}
    with locked(data / ".lock") if data.is_dir() else contextlib.nullcontext():
        for service in (ES, KAFKA):  # consumers of Kafka first... neither depends on the other; ES is quicker
            pid = read_pid(data, service)
            outcome = "not running"
            if pid is not None and is_ours(pid, data, service):
                log.info("stopping %s (pid %d)", service, pid)
                outcome = stop_pid(pid, service, timeout)
            # by port: a process of this stack whose PID file was lost
            for port in [ports.kafka, ports.controller] if service == KAFKA else [ports.es]:
                for stray in listening_pids(port):
                    if is_ours(stray, data, service):
                        log.info("stopping %s found on port %d (pid %d, no PID file)", service, port, stray)
                        outcome = stop_pid(stray, service, timeout)
            (data / PID_FILES[service]).unlink(missing_ok=True)
            details[service] = outcome
        # the ports must be closed now (a JVM releases them as it exits; allow a moment)
        deadline = time.monotonic() + 10
        busy = [p for p in (ports.kafka, ports.controller, ports.es) if listening_pids(p) or port_open(p)]
        while busy and time.monotonic() < deadline:
            time.sleep(0.2)
            busy = [p for p in busy if listening_pids(p) or port_open(p)]
    result = status(data)
    for service, svc in result.items():
        svc.detail = "; ".join(x for x in (details.get(service, ""), svc.detail) if x)
    if busy:
        log.warning(
            "after stopping the stack, port(s) %s on %s are still in use by: %s",
            busy,
            HOST,
            "; ".join(describe_port_user(p) for p in busy),
        )
    log.info("local stack stopped (%s)", data)
    return result


# ---------------------------------------------------------------------------------------------------------------
# one service at a time: what the fault suite does to the stack
# ---------------------------------------------------------------------------------------------------------------

SERVICES = (KAFKA, ES)


def _running_pid(service: str, data_dir: PathLike | None) -> tuple[Path, int]:
    if service not in SERVICES:
        raise StackError(f"unknown service {service!r}: use one of {', '.join(SERVICES)}")
    data = resolve_data_dir(data_dir)
    pid = our_pid(data, service, service_port(ports_for_status(data), service))
    if pid is None:
        raise StackError(f"{service} of the stack in {data} is not running (`lingting stack status`)")
    return data, pid


def stop_service(service: str, data_dir: PathLike | None = None, timeout: float = STOP_GRACE_SECONDS) -> str:
    """Stop one service cleanly (SIGTERM, SIGKILL after ``timeout``); the other keeps running."""
    data, pid = _running_pid(service, data_dir)
    log.info("stopping %s (pid %d)", service, pid)
    signal_group(pid, signal.SIGCONT)  # a paused JVM cannot act on SIGTERM
    outcome = stop_pid(pid, service, timeout)
    (data / PID_FILES[service]).unlink(missing_ok=True)
    return outcome


def kill(service: str, data_dir: PathLike | None = None) -> str:
    """SIGKILL one service, as a crashed machine would: no shutdown hook, no flush."""
    data, pid = _running_pid(service, data_dir)
    log.info("killing %s (pid %d) with SIGKILL", service, pid)
    signal_group(pid, signal.SIGKILL)
    outcome = stop_pid(pid, service, grace=10)
    (data / PID_FILES[service]).unlink(missing_ok=True)
    return outcome


def pause(service: str, data_dir: PathLike | None = None) -> int:
    """SIGSTOP one service: its port stays open and accepts connections that nobody answers (a hung node)."""
    return _signal_running(service, data_dir, signal.SIGSTOP, "pausing")


def resume(service: str, data_dir: PathLike | None = None) -> int:
    """SIGCONT a paused service."""
    return _signal_running(service, data_dir, signal.SIGCONT, "resuming")


def _signal_running(service: str, data_dir: PathLike | None, sig: signal.Signals, doing: str) -> int:
    """Send ``sig`` to a running service's process group and return its pid."""
    _, pid = _running_pid(service, data_dir)
    log.info("%s %s (pid %d) with %s", doing, service, pid, sig.name)
    signal_group(pid, sig)
    return pid


def restart(service: str, data_dir: PathLike | None = None, timeout: float = DEFAULT_START_TIMEOUT) -> StackStatus:
    """Stop one service and start it again on the ports it had; returns once the stack is healthy."""
    data = resolve_data_dir(data_dir)
    ports = ports_for_status(data)
    stop_service(service, data)
    return up(ports.kafka, ports.es, data, timeout=timeout)
