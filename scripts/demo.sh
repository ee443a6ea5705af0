#!/usr/bin/env bash
# The main job on the bundled example: `pullinfra agent --once` against a git repository
# that this script builds from examples/. Everything lives in ./.pullinfra/demo inside this
# checkout (the repository, the agent's state and the folder the deploy manages); nothing
# outside it is touched. Each run starts from a fresh demo folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh

demo="$root/.pullinfra/demo"
rm -rf "$demo"
mkdir -p "$demo"
# Git with no user or system config, so the machine's settings cannot change the demo.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="pullinfra demo" GIT_AUTHOR_EMAIL="demo@example.com"
export GIT_COMMITTER_NAME="pullinfra demo" GIT_COMMITTER_EMAIL="demo@example.com"
unset "${!PULLINFRA_@}" 2>/dev/null || true

echo "== building the example git repository from examples/ in $demo/fleet.git" >&2
git init --quiet --bare --initial-branch=main "$demo/fleet.git"
git init --quiet --initial-branch=main "$demo/work"
cp -R examples/. "$demo/work/"
git -C "$demo/work" add -A
git -C "$demo/work" commit --quiet -m "Demo fleet: one @local host, the example deploy"
git -C "$demo/work" push --quiet "$demo/fleet.git" HEAD:refs/heads/main

cat > "$demo/agent.toml" <<CONFIG
# The agent config for the demo; see config.example.toml for every key.
instance = "demo"

[source]
url = "file://$demo/fleet.git"
ref = "main"

[[deployment]]
name = "demo"
inventory = "inventory.py"
deploys = ["deploy.py"]
# The deploy manages only this folder.
data = { demo_dir = "$demo/site" }

[reconcile]
interval = 0

[state]
dir = "$demo/state"

[log]
format = "text"
CONFIG

echo >&2
echo "== pullinfra agent --config $demo/agent.toml --once   (first commit: everything is new)" >&2
.venv/bin/pullinfra agent --config "$demo/agent.toml" --once

echo >&2
echo "== a second commit changes the greeting; --once again applies only that change" >&2
sed -i 's/hello from pullinfra/hello again from pullinfra/' "$demo/work/inventory.py"
git -C "$demo/work" commit --quiet -am "Demo: change the greeting"
git -C "$demo/work" push --quiet "$demo/fleet.git" HEAD:refs/heads/main
.venv/bin/pullinfra agent --config "$demo/agent.toml" --once

echo >&2
echo "== pullinfra history, and pullinfra show for the second run (with its diff)" >&2
.venv/bin/pullinfra history --config "$demo/agent.toml"
echo
.venv/bin/pullinfra show 2 --config "$demo/agent.toml"
