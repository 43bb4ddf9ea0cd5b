#!/usr/bin/env bash
# Validate the deployment files without Docker or a Kubernetes cluster. Checks, in order:
#   1. yamllint: YAML syntax and style of deploy/compose and deploy/k8s
#   2. docker-compose.yml against the Compose Specification JSON schema (check-jsonschema, schema bundled)
#   3. `docker compose config -q` (the real Compose loader: interpolation, merge, schema and semantic checks; needs
#      no Docker engine) when a compose v2 CLI is installed, or built by `deploy/validate.sh --build-compose` from
#      the Go module github.com/docker/compose/v2 (needs Go; ~8 min on 2 cores, cached); skipped otherwise
#   4. deploy/k8s/*.yaml against the Kubernetes OpenAPI schemas, strict (kubernetes-validate; schemas bundled)
#   5. cross-file consistency (deploy/check_consistency.py): Kafka/Elasticsearch versions equal in pom.xml,
#      pipeline/stack/config.py, compose and k8s; Service selectors match pod labels; StatefulSets name existing headless
#      Services; env/ports the worker needs; both lingting.yaml files load with lingting's own Settings model
# Tools go to a virtualenv outside the repo ($LINGTING_VALIDATE_VENV, default ~/.cache/lingting/validate-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${LINGTING_VALIDATE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lingting/validate-venv}
TOOLS="yamllint==1.38.0 check-jsonschema==0.39.0 kubernetes-validate==1.37.0"

say() { printf '\033[1m[validate]\033[0m %s\n' "$*" >&2; }
failed=0
step() { local name=$1; shift; if "$@"; then say "ok: $name"; else say "FAILED: $name"; failed=1; fi; }

if [ ! -x "$VENV/bin/kubernetes-validate" ] || [ "$(cat "$VENV/.tools" 2>/dev/null)" != "$TOOLS" ]; then
  say "installing validators into $VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q $TOOLS
  echo "$TOOLS" > "$VENV/.tools"
fi

K8S=(deploy/k8s/namespace.yaml deploy/k8s/kafka.yaml deploy/k8s/elasticsearch.yaml deploy/k8s/worker.yaml)
COMPOSE=deploy/compose/docker-compose.yml

step "yamllint" "$VENV/bin/yamllint" -s -d '{extends: default, rules: {line-length: {max: 120},
  document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}' \
  deploy/compose deploy/k8s

step "compose schema" "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$COMPOSE"

COMPOSE_VERSION=v2.40.3
COMPOSE_BIN="$(dirname "$VENV")/docker-compose-$COMPOSE_VERSION"
if [ "${1:-}" = "--build-compose" ] && [ ! -x "$COMPOSE_BIN" ]; then
  command -v go >/dev/null || { say "--build-compose needs Go"; exit 2; }
  say "building docker compose $COMPOSE_VERSION with Go (several minutes)"
  gowork=$(mktemp -d)
  (cd "$gowork" && go mod init validate-compose >/dev/null 2>&1 \
     && go get "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION" \
     && go build -o "$COMPOSE_BIN" github.com/docker/compose/v2/cmd) >&2
  rm -rf "$gowork"
fi
compose_cli=()
if docker compose version >/dev/null 2>&1; then compose_cli=(docker compose)
elif [ -x "$COMPOSE_BIN" ]; then compose_cli=("$COMPOSE_BIN")
elif command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -q 'v2\.'; then
  compose_cli=(docker-compose)
fi
if [ ${#compose_cli[@]} -gt 0 ]; then
  step "${compose_cli[*]} config" "${compose_cli[@]}" -f "$COMPOSE" config -q
else
  say "skipped: docker compose config (no compose v2 CLI; \`deploy/validate.sh --build-compose\` builds one with Go)"
fi

step "kubernetes schemas (strict)" "$VENV/bin/kubernetes-validate" --strict --quiet "${K8S[@]}"

py=python3
[ -x "$ROOT/.venv/bin/python" ] && py="$ROOT/.venv/bin/python"
step "consistency" "$py" deploy/check_consistency.py

if [ "$failed" = 0 ]; then say "all checks passed"; else say "some checks failed"; fi
exit "$failed"
