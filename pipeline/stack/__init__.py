"""The local stack: a real Kafka 4 broker (KRaft, broker+controller in one JVM) and a real Elasticsearch 8 node,
both run from jars that Maven resolves from Maven Central (``deploy/local/pom.xml``), on 127.0.0.1. A developer
and test tool: the worker never imports it. The command is ``lingting stack`` (pipeline/cli/stack.py).

Layout of the data dir (default ``<repo>/.stack``, or ``$LINGTING_STACK_DIR``)::

    stack.json                 ports the stack was started with (status/down read them)
    kafka.pid  es.pid          PID files
    logs/kafka.log             broker log (stdout+stderr of the JVM)
    logs/elasticsearch.log     node log
    kafka/                     server.properties, cluster.id, data/ (log.dirs)
    es/                        path.home: data/, tmp/, config/

Modules: ``config`` (versions, ports, paths), ``build`` (Maven), ``process`` (PIDs, signals), ``health``
(status, standard library only), ``kafka_node`` and ``es_node`` (config files and commands), ``control``
(up/down/status and one service at a time: stop, kill, pause, resume, restart).
"""

from pipeline.stack.build import build
from pipeline.stack.config import (
    ES,
    ES_VERSION,
    KAFKA,
    KAFKA_VERSION,
    REPO_ROOT,
    StackError,
    default_data_dir,
    default_es_port,
    default_kafka_port,
)
from pipeline.stack.control import (
    SERVICES,
    down,
    kill,
    pause,
    restart,
    resume,
    status,
    stop_service,
    up,
)
from pipeline.stack.health import ServiceStatus, StackStatus

__all__ = [
    "ES",
    "ES_VERSION",
    "KAFKA",
    "KAFKA_VERSION",
    "REPO_ROOT",
    "SERVICES",
    "ServiceStatus",
    "StackError",
    "StackStatus",
    "build",
    "default_data_dir",
    "default_es_port",
    "default_kafka_port",
    "down",
    "kill",
    "pause",
    "restart",
    "resume",
    "status",
    "stop_service",
    "up",
]
