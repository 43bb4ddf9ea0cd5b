"""``lingting stack up --secure``: the broker gains SSL (port +2), SASL_PLAINTEXT (+3) and SASL_SSL (+4)
listeners beside PLAINTEXT, with a CA and a broker certificate generated under ``<data>/secure/`` (Python
``cryptography``, a test dependency) and SASL users for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (the SCRAM
credentials are written into the cluster metadata when the storage is formatted)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.stack.config import HOST, Ports, StackError

USER = "lingting"
PASSWORD = "lingting-secret"


def secure_ports(ports: Ports) -> dict[str, int]:
    return {"SSL": ports.kafka + 2, "SASL_PLAINTEXT": ports.kafka + 3, "SASL_SSL": ports.kafka + 4}


def ensure_certs(data: Path) -> dict[str, str]:
    """CA and broker certificate (PEM) in ``<data>/secure/``; written once, reused on every start."""
    directory = data / "secure"
    info = directory / "secure.json"
    if info.is_file():
        return json.loads(info.read_text())
    try:
        from pipeline.stack.certs import make_certs
    except ImportError as err:
        raise StackError(f"stack up --secure needs the test dependencies (pip install -e '.[test]'): {err}") from None
    certs = make_certs(directory)
    keystore = directory / "broker-keystore.pem"  # Kafka's PEM keystore: the private key and the certificate
    keystore.write_text(certs.key.read_text() + certs.cert.read_text())
    paths = {"ca": str(certs.ca), "keystore": str(keystore), "user": USER, "password": PASSWORD}
    info.write_text(json.dumps(paths, indent=2))
    return paths


def listener_props(data: Path, ports: Ports) -> dict[str, str]:
    """server.properties entries for the secure listeners (merged over the PLAINTEXT ones)."""
    paths = ensure_certs(data)
    extra = secure_ports(ports)
    names = {"SSL": "SSL", "SASL_PLAINTEXT": "SASLPLAIN", "SASL_SSL": "SASLSSL"}
    listeners = ",".join(f"{names[p]}://{HOST}:{port}" for p, port in extra.items())
    props = {
        "listeners+": listeners,
        "listener.security.protocol.map+": ",".join(f"{names[p]}:{p}" for p in extra),
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": paths["keystore"],
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": paths["ca"],
    }
    for listener in ("saslplain", "saslssl"):
        props[f"listener.name.{listener}.plain.sasl.jaas.config"] = (
            f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";'
        )
        for mech in ("scram-sha-256", "scram-sha-512"):
            props[f"listener.name.{listener}.{mech}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
    return props


def scram_format_args() -> list[str]:
    return [
        arg
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        for arg in ("--add-scram", f"{mech}=[name={USER},password={PASSWORD}]")
    ]
