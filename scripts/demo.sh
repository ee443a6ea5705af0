#!/usr/bin/env bash
# The main job on the bundled example: pyinfra's five stages against @local.
# Touches only ./.pullinfra/demo inside this checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh

echo "== pullinfra apply examples/inventory.py examples/deploy.py" >&2
.venv/bin/pullinfra apply examples/inventory.py examples/deploy.py

echo >&2
echo "== pullinfra plan (dry run) with a changed greeting: shows the diff, changes nothing" >&2
.venv/bin/pullinfra plan examples/inventory.py examples/deploy.py \
    --data "greeting=hello again" --detailed-exitcode || [ $? = 3 ]
