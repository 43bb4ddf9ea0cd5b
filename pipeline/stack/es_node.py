"""The Elasticsearch node: started through our launcher (``io.lingting.local.EsNode``) with the modules Maven
copied."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.stack.config import (
    DEFAULT_ES_JAVA_OPTS,
    ES,
    ES_LAUNCHER_JAR,
    ES_LIB,
    ES_MODULES,
    HOST,
    LOG4J2,
    MAIN_CLASSES,
    Ports,
    jvm_args,
)


def es_command(java: str, data: Path, ports: Ports) -> list[str]:
    home = data / "es"
    for sub in ("data", "tmp", "config", "logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "log4j2.properties").write_text(
        LOG4J2.format(
            pattern="[%d{ISO8601}][%-5p][%-25c{1.}] %m%n",
            level="info",
            extra="logger.deprecation.name = org.elasticsearch.deprecation\nlogger.deprecation.level = error\n",
        )
    )
    return [
        *jvm_args(java, "LINGTING_STACK_ES_JAVA_OPTS", DEFAULT_ES_JAVA_OPTS, home),
        "-Dfile.encoding=UTF-8",
        "-XX:-OmitStackTraceInFastThrow",
        "-Dlog4j2.formatMsgNoLookups=true",
        "-Dlog4j.shutdownHookEnabled=false",
        "-Dlog4j2.disable.jmx=true",
        f"-Dlingting.es.modules={ES_MODULES}",
        "-cp",
        f"{ES_LAUNCHER_JAR}{os.pathsep}{ES_LIB / '*'}",
        MAIN_CLASSES[ES],
        f"path.home={home}",
        f"path.data={home / 'data'}",
        f"path.logs={home / 'logs'}",
        "cluster.name=lingting-local",
        "node.name=lingting-es",
        f"network.host={HOST}",
        f"http.port={ports.es}",
        "transport.port=0",
        # a dev stack collects many small test indices over time
        "cluster.max_shards_per_node=5000",
    ]
