"""Maven resolves the Kafka and Elasticsearch jars from Maven Central (``deploy/local/pom.xml``)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.stack.config import (
    BUILD_LOG,
    BUILD_STAMP,
    ES_LAUNCHER_JAR,
    ES_LIB,
    ES_MODULES,
    ES_VERSION,
    KAFKA_LIB,
    KAFKA_VERSION,
    LOCAL_DIR,
    TARGET_DIR,
    StackError,
)
from pipeline.stack.process import tail

log = logging.getLogger("lingting.stack")


def _build_inputs_digest() -> str:
    digest = hashlib.sha256()
    files = [LOCAL_DIR / "pom.xml"] + sorted(p for p in (LOCAL_DIR / "src").rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(LOCAL_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _artifacts_present() -> bool:
    return (
        any(KAFKA_LIB.glob(f"kafka_2.13-{KAFKA_VERSION}.jar"))
        and any(ES_LIB.glob(f"elasticsearch-{ES_VERSION}.jar"))
        and ES_LAUNCHER_JAR.is_file()
        and (ES_MODULES / "transport-netty4" / "plugin-descriptor.properties").is_file()
        and any((ES_MODULES / "lingting-local").glob("*.jar"))
    )


def _require_tool(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise StackError(f"`{tool}` was not found on PATH: the local stack needs it. {hint}")
    return path


def find_java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        java = str(Path(home) / "bin" / "java")
    else:
        java = _require_tool(
            "java", "Install Java 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)."
        )
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
            raise StackError(
                f"{java} is Java {major}; Kafka {KAFKA_VERSION} and Elasticsearch {ES_VERSION} need "
                "Java 17 or newer (set JAVA_HOME or put a newer java on PATH)"
            )
    return java


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
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
    if (
        not force
        and _artifacts_present()
        and BUILD_STAMP.is_file()
        and BUILD_STAMP.read_text().strip() == _build_inputs_digest()
    ):
        return 0.0
    mvn = _require_tool("mvn", "Install Maven 3.8+ (Debian/Ubuntu: apt-get install maven).")
    find_java()
    started = time.monotonic()
    TARGET_DIR.mkdir(parents=True, exist_ok=True)
    with locked(TARGET_DIR.parent / ".build.lock"):
        if (
            not force
            and _artifacts_present()
            and BUILD_STAMP.is_file()
            and BUILD_STAMP.read_text().strip() == _build_inputs_digest()
        ):
            return 0.0  # another process built it while we waited for the lock
        digest = _build_inputs_digest()
        log.info(
            "building the local stack with Maven (Kafka %s, Elasticsearch %s); the first time this downloads "
            "~125 MB from Maven Central…",
            KAFKA_VERSION,
            ES_VERSION,
        )
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
                    rc = subprocess.run(
                        cmd, cwd=LOCAL_DIR, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                    ).returncode
                except OSError as err:
                    raise StackError(f"could not run Maven ({mvn}): {err}") from None
                if rc != 0:
                    raise StackError(
                        f"Maven failed (exit {rc}) building the {profile} jars of the local stack "
                        f"({LOCAL_DIR / 'pom.xml'}, profile {profile}). Full output: {BUILD_LOG}\n"
                        f"{tail(BUILD_LOG, 30)}"
                    )
        if not _artifacts_present():
            raise StackError(f"Maven succeeded but the expected jars are missing under {TARGET_DIR}; see {BUILD_LOG}")
        BUILD_STAMP.write_text(digest + "\n")
    seconds = time.monotonic() - started
    log.info("local stack built in %.1f s", seconds)
    return seconds
