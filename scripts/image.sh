#!/usr/bin/env bash
# Build the pullinfra container image with podman, without an image registry:
#   bash scripts/image.sh [TAG]        (default TAG: localhost/pullinfra:<version>)
# 1. a Debian bookworm base from Debian's packages (mmdebstrap), imported once as
#    localhost/pullinfra-base:bookworm (delete that image to rebuild it);
# 2. the wheels of requirements/runtime.lock (hashes checked) and of pullinfra itself;
# 3. `podman build` of the Containerfile from a context holding only those.
# Environment: PULLINFRA_IMAGE_DIR (work folder, default build/image), PYTHON (python3),
# PODMAN_RUNTIME (runc: crun refuses hybrid cgroup hosts). Prints the image id last.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
tag=${1:-localhost/pullinfra:$version}
work=${PULLINFRA_IMAGE_DIR:-$root/build/image}
base=localhost/pullinfra-base:bookworm
runtime=${PODMAN_RUNTIME:-runc}
py=${PYTHON:-python3}
mkdir -p "$work"

if ! podman image exists "$base"; then
    echo "image: building the Debian base with mmdebstrap (once)" >&2
    mmdebstrap --quiet --variant=minbase \
        --include=git,openssh-client,python3,python3-venv,ca-certificates \
        bookworm "$work/rootfs.tar"
    podman import --quiet "$work/rootfs.tar" "$base" >/dev/null
    rm -f "$work/rootfs.tar"
fi

echo "image: collecting the wheels of requirements/runtime.lock and pullinfra" >&2
rm -rf "$work/context"
mkdir -p "$work/context/wheels"
"$py" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    -r requirements/runtime.lock -d "$work/context/wheels"
"$py" -m pip wheel --quiet --no-deps . -w "$work/context/wheels"
cp Containerfile "$work/context/Containerfile"

echo "image: podman build $tag" >&2
podman build --quiet --runtime "$runtime" --build-arg "BASE=$base" -t "$tag" \
    -f "$work/context/Containerfile" "$work/context" >/dev/null
podman image inspect --format '{{.Id}}' "$tag"
