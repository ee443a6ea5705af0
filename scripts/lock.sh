#!/usr/bin/env bash
# Refresh the lock files in requirements/ from the ranges in pyproject.toml (and
# requirements/oracle.in for real pyinfra, the tests' oracle). Run it when a range changes or
# to take newer releases on purpose; review the diff, run the tests, commit the locks.
# `--upgrade` (any extra arguments go to every `uv pip compile`) takes the newest versions
# the ranges allow; without it, versions already locked are kept where they still fit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The uv that the tests use too (requirements/test.lock pins it).
UV_VERSION=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements/test.lock)
UV_VERSION=${UV_VERSION:-0.13.9}
tools=.venv-tools
if [ ! -x "$tools/bin/uv" ] || [ "$("$tools/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q "uv==$UV_VERSION"
fi
compile() {
    "$tools/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "bash scripts/lock.sh" "$@"
}
compile pyproject.toml -o requirements/runtime.lock "$@"
# The test lock holds the runtime lock's versions exactly, plus the test tools.
compile pyproject.toml --extra test -c requirements/runtime.lock -o requirements/test.lock "$@"
compile requirements/oracle.in -o requirements/oracle.lock "$@"
echo "lock: requirements/{runtime,test,oracle}.lock refreshed; review with git diff" >&2
