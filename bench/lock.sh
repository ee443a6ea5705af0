#!/usr/bin/env bash
# Refresh bench/requirements.lock (hashes) from bench/requirements.in, with the uv that the
# test lock pins (.venv/bin/uv). Python 3.11 is the project's; ansible-core then resolves to
# the newest release that still runs its controller on 3.11.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
.venv/bin/uv pip compile --quiet --python-version 3.11 --generate-hashes \
    --custom-compile-command "bash bench/lock.sh" "$@" \
    bench/requirements.in -o bench/requirements.lock
