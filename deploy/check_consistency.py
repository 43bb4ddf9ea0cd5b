"""Cross-file checks of the deployment files that no schema can do (run by deploy/validate.sh).

Needs PyYAML; the lingting.yaml checks also need lingting importable (they are skipped, with a note, if not)."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
errors: list[str] = []


def check(ok: bool, message: str) -> None:
    if not ok:
        errors.append(message)


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


# --- versions: one Kafka and one Elasticsearch version everywhere -------------------------------------------------
pom = ET.parse(ROOT / "deploy/local/pom.xml").getroot()
ns = {"m": "http://maven.apache.org/POM/4.0.0"}
pom_kafka = pom.findtext("m:properties/m:kafka.version", namespaces=ns)
pom_es = pom.findtext("m:properties/m:elasticsearch.version", namespaces=ns)
stack_src = (ROOT / "pipeline/stack/config.py").read_text(encoding="utf-8")
stack_kafka = re.search(r'^KAFKA_VERSION = "([^"]+)"', stack_src, re.M).group(1)
stack_es = re.search(r'^ES_VERSION = "([^"]+)"', stack_src, re.M).group(1)
check(pom_kafka == stack_kafka, f"Kafka version: pom.xml {pom_kafka} != pipeline/stack/config.py {stack_kafka}")
check(pom_es == stack_es, f"Elasticsearch version: pom.xml {pom_es} != pipeline/stack/config.py {stack_es}")

images: dict[str, set[str]] = {}
compose = yaml.safe_load((ROOT / "deploy/compose/docker-compose.yml").read_text(encoding="utf-8"))
for name, svc in compose["services"].items():
    if "image" in svc:
        images.setdefault(f"compose:{name}", set()).add(svc["image"])
k8s_docs = []
for path in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
    if path.name == "kustomization.yaml":
        kustomization = yaml.safe_load(path.read_text(encoding="utf-8"))
        listed = set(kustomization.get("resources", []))
        present = {p.name for p in (ROOT / "deploy/k8s").glob("*.yaml")} - {"kustomization.yaml"}
        check(listed == present, f"kustomization.yaml resources {sorted(listed)} != files {sorted(present)}")
        continue
    for doc in load_all(path):
        k8s_docs.append((path.name, doc))
        spec = doc.get("spec", {})
        template = spec.get("template", {})
        for c in template.get("spec", {}).get("containers", []):
            images.setdefault(f"k8s:{doc['metadata']['name']}", set()).add(c["image"])

for where, refs in images.items():
    for ref in refs:
        if ref.startswith("apache/kafka:"):
            check(ref == f"apache/kafka:{stack_kafka}", f"{where}: {ref}, expected apache/kafka:{stack_kafka}")
        elif "elasticsearch/elasticsearch:" in ref:
            check(ref.endswith(f":{stack_es}"), f"{where}: {ref}, expected version {stack_es}")

# --- Kubernetes: selectors, services, config wiring ---------------------------------------------------------------
by_kind: dict[str, dict[str, dict]] = {}
for _, doc in k8s_docs:
    by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    if doc["kind"] != "Namespace":
        check(doc["metadata"].get("namespace") == "lingting", f"{doc['kind']} {doc['metadata']['name']}: namespace")

workloads = {**by_kind.get("StatefulSet", {}), **by_kind.get("Deployment", {})}
for name, svc in by_kind.get("Service", {}).items():
    selector = svc["spec"].get("selector", {})
    matches = [w for w in workloads.values() if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
    check(bool(matches), f"Service {name}: selector {selector} matches no pod template")
    for port in svc["spec"]["ports"]:
        target = port.get("targetPort")
        if isinstance(target, str) and matches:
            names = {
                p.get("name")
                for w in matches
                for c in w["spec"]["template"]["spec"]["containers"]
                for p in c.get("ports", [])
            }
            check(target in names, f"Service {name}: targetPort {target!r} is not a named container port")
for name, sts in by_kind.get("StatefulSet", {}).items():
    headless = by_kind.get("Service", {}).get(sts["spec"]["serviceName"])
    check(
        headless is not None and headless["spec"].get("clusterIP") == "None",
        f"StatefulSet {name}: serviceName {sts['spec']['serviceName']} is not a headless Service",
    )
    check(
        sts["spec"]["selector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items(),
        f"StatefulSet {name}: selector does not match its template labels",
    )

worker = by_kind.get("Deployment", {}).get("lingting-worker")
check(worker is not None, "Deployment lingting-worker is missing")
configmap_yaml = None
if worker:
    container = worker["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for key in ("LINGTING_KAFKA", "LINGTING_ES", "LINGTING_CONFIG"):
        check(key in env, f"worker Deployment: env {key} missing")
    kafka_host = (env.get("LINGTING_KAFKA") or "").split(":")[0]
    check(kafka_host in by_kind.get("Service", {}), f"LINGTING_KAFKA host {kafka_host!r} is no Service")
    es_host = re.sub(r"^https?://", "", env.get("LINGTING_ES") or "").split(":")[0]
    check(es_host in by_kind.get("Service", {}), f"LINGTING_ES host {es_host!r} is no Service")
    volumes = {v["name"]: v for v in worker["spec"]["template"]["spec"].get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        check(volume is not None, f"worker: volumeMount {mount['name']} has no volume")
        if volume and "configMap" in volume:
            cm = by_kind.get("ConfigMap", {}).get(volume["configMap"]["name"])
            check(cm is not None, f"worker: ConfigMap {volume['configMap']['name']} missing")
            if cm:
                config_file = f"{mount['mountPath'].rstrip('/')}/lingting.yaml"
                check(
                    env.get("LINGTING_CONFIG") == config_file,
                    f"LINGTING_CONFIG {env.get('LINGTING_CONFIG')} != mounted {config_file}",
                )
                configmap_yaml = cm["data"].get("lingting.yaml")
                check(configmap_yaml is not None, "ConfigMap has no lingting.yaml")

# --- compose wiring ------------------------------------------------------------------------------------------------
cw = compose["services"]["worker"]
check(cw["environment"]["LINGTING_KAFKA"].split(":")[0] in compose["services"], "compose: LINGTING_KAFKA host")
check(
    re.sub(r"^https?://", "", cw["environment"]["LINGTING_ES"]).split(":")[0] in compose["services"],
    "compose: LINGTING_ES host",
)
for dep in cw.get("depends_on", {}):
    check("healthcheck" in compose["services"][dep], f"compose: worker waits for {dep} health but it has none")
check(
    (ROOT / cw["build"]["context"].replace("../..", ".") / cw["build"]["dockerfile"]).is_file()
    if cw["build"]["context"] == "../.."
    else True,
    "compose: worker Dockerfile missing",
)
dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
check('CMD ["lingting", "worker"]' in dockerfile or 'CMD ["lingting","worker"]' in dockerfile, "Dockerfile CMD")
check("python:3.11-slim" in dockerfile, "Dockerfile base image")

# --- both lingting.yaml files load with lingting's own Settings ----------------------------------------------------
try:
    from pipeline.settings import settings_from_dict
except Exception as err:  # lingting not installed in this interpreter
    print(f"note: lingting not importable ({err.__class__.__name__}: {err}); lingting.yaml files not validated")
else:
    sources = {"deploy/compose/lingting.yaml": (ROOT / "deploy/compose/lingting.yaml").read_text(encoding="utf-8")}
    if configmap_yaml:
        sources["ConfigMap lingting-config"] = configmap_yaml
    for where, text in sources.items():
        try:
            settings_from_dict(yaml.safe_load(text) or {}, where)
        except Exception as err:
            errors.append(f"{where}: {err}")

for message in errors:
    print(f"error: {message}", file=sys.stderr)
print(f"consistency: {len(errors)} problem(s)")
sys.exit(1 if errors else 0)
