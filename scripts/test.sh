#!/usr/bin/env bash
# The whole test suite, from a clean clone: set-up, lint, then pytest over the test bed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PULLINFRA_WANT_TEST_TOOLS=1 bash scripts/bootstrap.sh
.venv/bin/ruff check agent tests bench
workers=${PULLINFRA_TEST_WORKERS:-2}
exec .venv/bin/python -m pytest -n "$workers" --dist loadgroup "$@"
