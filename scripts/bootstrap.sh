#!/usr/bin/env bash
# Idempotent set-up shared by the README commands: system packages, then the venv.
# Safe to run on every invocation; each step is skipped when already done.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

py=${PYTHON:-python3}
need_pkgs=()
# A fresh Debian has no python3 (or no venv module for it) and no git.
"$py" -c "import ensurepip, venv" >/dev/null 2>&1 || need_pkgs+=(python3 python3-venv)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v sudo >/dev/null 2>&1 || need_pkgs+=(sudo)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v dpkg-deb >/dev/null 2>&1 || need_pkgs+=(dpkg)
# For the tests only: promtool checks /metrics, gpg signs commits for source verification,
# and bed hosts carry the machine's packages, so crontab.crontab's bed tests need cron here,
# and files.rsync's need rsync (on this machine, which runs it, and on the hosts).
if [ "${PULLINFRA_WANT_TEST_TOOLS:-0}" = 1 ]; then
    command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)
    command -v gpg >/dev/null 2>&1 || need_pkgs+=(gnupg)
    command -v crontab >/dev/null 2>&1 || need_pkgs+=(cron)
    command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
    # The clock fault test builds a small preload library (tests/faults/clockshift.c).
    command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc libc6-dev)
    # The container image test builds a Debian base with mmdebstrap and runs it with podman
    # under runc (crun refuses this machine's hybrid cgroups).
    command -v mmdebstrap >/dev/null 2>&1 || need_pkgs+=(mmdebstrap)
    command -v podman >/dev/null 2>&1 || need_pkgs+=(podman)
    command -v runc >/dev/null 2>&1 || need_pkgs+=(runc)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: missing ${need_pkgs[*]} and not root; install them with apt-get" >&2
        exit 2
    fi
    echo "bootstrap: installing ${need_pkgs[*]} with apt-get" >&2
    apt-get update -qq
    # Keep package scripts from starting daemons (sshd, prometheus) on this machine.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
    [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# Venvs hold exactly a lock file of requirements/ (see README, "Locked dependencies"): a venv
# whose lock changed is made anew, so nothing installed earlier lingers in it.
# A venv's stamp: the lock it holds, and the hash of that lock (and of pyproject.toml, for a
# venv that holds the project too).
lock_id() { echo "$1 $(cat "$@" | sha256sum | cut -d' ' -f1)"; }

make_venv() {  # make_venv VENV LOCK PROJECT(yes|no)
    local venv=$1 lock=$2 project=$3 stamp="$1/.pullinfra-lock" log id
    if [ "$project" = yes ]; then id=$(lock_id "$lock" pyproject.toml); else id=$(lock_id "$lock"); fi
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$id" ] && return 0
    echo "bootstrap: creating $venv from $lock" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
    log=$(mktemp)
    if ! { "$venv/bin/pip" install -q --require-hashes --no-deps -r "$lock" &&
           { [ "$project" = no ] || "$venv/bin/pip" install -q --no-deps -e .; } &&
           "$venv/bin/pip" check; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; exit 1
    fi
    rm -f "$log"
    echo "$id" > "$stamp"
}

if [ "${PULLINFRA_WANT_TEST_TOOLS:-0}" = 1 ]; then
    make_venv .venv requirements/test.lock yes
    # Real pyinfra, the tests' oracle, apart: its pins must not change pullinfra's versions.
    make_venv .venv-oracle requirements/oracle.lock no
elif ! grep -qs "^requirements/test.lock " .venv/.pullinfra-lock ||
     [ "$(cat .venv/.pullinfra-lock)" != "$(lock_id requirements/test.lock pyproject.toml)" ]; then
    # The test lock holds the runtime lock's versions plus test tools, so it serves too.
    make_venv .venv requirements/runtime.lock yes
fi
