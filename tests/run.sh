#!/usr/bin/env bash
# The whole test run: installs what it needs, then lint, types and tests.
# Real servers (redis-server, a MiniDFSCluster) are started by the tests
# themselves on free loopback ports and stopped after.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing redis-server (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"

# Resolve and compile the MiniDFSCluster launcher once (Maven Central; cached
# in ~/.m2 and ~/.cache/volnux-actors), so no test waits on a download.
bash tests/minihdfs/run.sh --build

python3 -m ruff check volnux_actors supervisors tests
python3 -m ruff format --check -q volnux_actors supervisors tests
python3 -m mypy
exec python3 -m pytest -q -p no:cacheprovider "$@"
