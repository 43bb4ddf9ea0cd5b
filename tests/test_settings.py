"""Config loading: one YAML file, env overrides, errors that name the key."""

from __future__ import annotations

import pytest

from pipeline.settings import load_settings
from schemas.errors import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "lingting.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_config_with_brands_and_webhook(tmp_path, monkeypatch):
    monkeypatch.delenv("LINGTING_KAFKA", raising=False)
    monkeypatch.delenv("LINGTING_ES", raising=False)
    s = load_settings(
        write(
            tmp_path,
            """
brands:
  - name: 海底捞
    aliases: [捞捞]
  - name: 小米
    keywords: [xiaomi]
    exclude: [小米粥]
notify:
  webhooks: [{url: "http://127.0.0.1:9/hook"}]
""",
        )
    )
    assert [b.name for b in s.brands] == ["海底捞", "小米"]
    assert s.brands[0].keywords == ["捞捞"]
    assert s.kafka.raw_topic == "lingting.posts.raw" and s.elasticsearch.posts_alias == "lingting-posts"


def test_env_overrides_addresses(tmp_path, monkeypatch):
    monkeypatch.setenv("LINGTING_KAFKA", "k1:9092,k2:9092")
    monkeypatch.setenv("LINGTING_ES", "https://es.example:9200")
    s = load_settings(write(tmp_path, "kafka: {bootstrap: 'x:1'}\n"))
    assert s.kafka.bootstrap == "k1:9092,k2:9092" and s.elasticsearch.url == "https://es.example:9200"


@pytest.mark.parametrize(
    "text, key",
    [
        ("brands:\n  - keywords: [x]\n", "brands[0].name"),
        ("kafka: {partitions: 0}\n", "kafka.partitions"),
        ("brands:\n  - name: a\n  - name: a\n", "configured twice"),
        ("notfound: 1\n", "notfound"),
        ("brands:\n  - name: a\n    detection: {window_seconds: -5}\n", "brands[0].detection.window_seconds"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert key in str(err.value)


def test_unreadable_and_non_yaml_configs_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "brands: [unclosed\n"))


def test_cli_config_check_exits_2_naming_the_key(tmp_path):
    import subprocess
    import sys

    bad = write(tmp_path, "brands:\n  - keywords: [x]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "config", "check", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "brands[0].name" in proc.stderr


def test_cli_config_check_names_a_route_brand_that_is_not_configured(tmp_path):
    import subprocess
    import sys

    config = write(
        tmp_path,
        """
brands:
  - name: 海底捞
  - name: 小米
notify:
  webhooks: [{url: "http://127.0.0.1:9/hook"}]
  routes:
    - {brands: [海底捞], channels: [webhook]}
    - {name: typo, brands: [小米, 海低捞], channels: [webhook]}
""",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "config", "check", str(config)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stdout
    assert "notify.routes[1].brands[1]: brand '海低捞' is not configured (brands: 小米, 海底捞)" in proc.stderr
    fixed = write(tmp_path, config.read_text(encoding="utf-8").replace("海低捞", "海底捞"))
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "config", "check", str(fixed)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ok: 2 brands"), proc.stderr
