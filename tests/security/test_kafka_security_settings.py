"""The kafka section's security options: validated with the key named, secrets from the value, a file or the
environment, and the same options for kafka-python, aiokafka and Faust. A PLAINTEXT round trip through the real
local broker checks the options are ones the clients accept."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.clients import faust_credentials
from pipeline.stack.certs import make_certs
from schemas.settings import KafkaSettings
from tests.security.roundtrip import kafka_python_round_trip


def test_sasl_needs_a_mechanism_and_a_user() -> None:
    with pytest.raises(ValidationError, match="SASL_SSL needs sasl_mechanism and sasl_username"):
        KafkaSettings(security_protocol="SASL_SSL")
    with pytest.raises(ValidationError, match="sasl_mechanism is set but security_protocol is PLAINTEXT"):
        KafkaSettings(sasl_mechanism="PLAIN", sasl_username="u")
    with pytest.raises(ValidationError, match="security_protocol"):
        KafkaSettings(security_protocol="TLS")


def test_scram_password_from_a_file_or_the_environment(tmp_path, monkeypatch) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("密码-from-file\n", encoding="utf-8")
    k = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="lingting",
        sasl_password_file=str(secret),
    )
    opts = k.kafka_python_options()
    assert opts["sasl_plain_password"] == "密码-from-file" and opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert "ssl_context" not in opts
    monkeypatch.setenv("LINGTING_KAFKA_SASL_PASSWORD", "from-env")
    k = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256", sasl_username="lingting")
    assert k.kafka_python_options()["sasl_plain_password"] == "from-env"
    assert "from-env" not in repr(k)


def test_tls_options_carry_the_ca_for_every_client(tmp_path) -> None:
    certs = make_certs(tmp_path)
    k = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="lingting",
        sasl_password="pw",
        ssl_cafile=str(certs.ca),
    )
    assert k.kafka_python_options()["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    assert k.aiokafka_options()["security_protocol"] == "SASL_SSL"
    creds = faust_credentials(k)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-256"
    ssl_only = faust_credentials(KafkaSettings(security_protocol="SSL", ssl_cafile=str(certs.ca)))
    assert ssl_only.protocol.value == "SSL"
    assert faust_credentials(KafkaSettings()) is None


@pytest.mark.integration
def test_plaintext_options_work_against_the_real_broker(stack) -> None:
    assert kafka_python_round_trip(KafkaSettings(bootstrap=stack["kafka"]), "聆听") == ["聆听"]
