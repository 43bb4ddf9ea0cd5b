#!/usr/bin/env bash
# lingting developer entry point: does all set-up itself on a fresh machine, then runs one thing.
#   ./dev.sh demo   — local Kafka + Elasticsearch, a worker, a replayed crisis, the alert printed
#   ./dev.sh test   — the static checks (./dev.sh lint), then the whole test suite against the real local stack
#   ./dev.sh lint   — the static checks alone: import layering (import-linter), ruff lint + format, mypy
# Needs: python3 >= 3.11, Java 17 (Maven and kcat are installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

say() { printf '\033[1m[lingting]\033[0m %s\n' "$*" >&2; }

need_tools() {
  command -v java >/dev/null || { say "Java 17 is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
  if ! command -v mvn >/dev/null; then
    say "installing Maven (apt-get)…"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq maven >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq maven >/dev/null; fi
  fi
  if ! command -v kcat >/dev/null; then
    # the codec tests produce with kcat -z gzip|snappy|lz4|zstd, as non-Python producers do
    say "installing kcat (apt-get)…"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq kcat >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq kcat >/dev/null; fi
  fi
  python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
    || { say "python3 >= 3.11 is required"; exit 1; }
}

# The web page tests drive Debian's Chromium through its chromedriver (no browser download at test time).
need_browser() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && return
  say "installing Chromium and chromedriver for the web page tests (apt-get)…"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver >/dev/null; fi
}

ensure_venv() {
  local stamp="$VENV/.installed" want
  want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv .venv"
    python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing lingting and its dependencies (pip)…"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[test]" --config-settings editable_mode=compat
    echo "$want" > "$stamp"
  fi
}

lint() {
  say "checking the import layering (lint-imports)"
  "$VENV/bin/lint-imports" --no-logo --no-cache
  say "checking lint and format (ruff) and the types of schemas/ and processors/ (mypy)"
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check .
  "$VENV/bin/mypy"
}

cmd=${1:-help}; shift || true
case "$cmd" in
  demo)
    need_tools; ensure_venv
    exec "$VENV/bin/lingting" demo "$@"
    ;;
  lint)
    ensure_venv; lint
    ;;
  test)
    need_tools; need_browser; ensure_venv
    lint
    started_here=0
    if ! "$VENV/bin/lingting" stack status >/dev/null 2>&1; then started_here=1; fi
    "$VENV/bin/lingting" stack up
    set +e
    "$VENV/bin/python" -m pytest -ra "$@"
    rc=$?
    set -e
    if [ "${CI:-}" = "true" ] && [ "$started_here" = 1 ]; then "$VENV/bin/lingting" stack down || true; fi
    exit $rc
    ;;
  *)
    sed -n '2,6p' "$0"; exit 2 ;;
esac
