"""The image, built here with scripts/image.sh (mmdebstrap and podman, no registry), runs
`pullinfra agent --once` on a repository mounted into it, as uid 10001."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.agent.gitfixtures import Remote

pytestmark = [pytest.mark.bed, pytest.mark.xdist_group("image")]
ROOT = Path(__file__).resolve().parents[2]
TAG = "localhost/pullinfra:test"
UID = 10001


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> str:
    for tool in ("podman", "mmdebstrap", "runc"):
        if shutil.which(tool) is None:
            message = f"{tool} is not installed (scripts/bootstrap.sh installs it)"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    env = {**os.environ, "PYTHON": str(ROOT / ".venv" / "bin" / "python"),
           "PULLINFRA_IMAGE_DIR": str(tmp_path_factory.mktemp("image"))}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "image.sh"), TAG], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return TAG


def podman_run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "run", "--rm", "--runtime", "runc", "--network", "none",
                           "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=30000:30000",
                           *args], capture_output=True, text=True, timeout=timeout)


def test_the_image_applies_a_repository_once_as_its_own_user(image, tmp_path):
    remote = Remote(tmp_path / "repo")
    sha = remote.commit_and_push({
        "inventory.py": 'here = ["@local"]\n',
        "deploy.py": textwrap.dedent('''\
            from pyinfra.operations import files

            files.directory(name="Mark the run", path="/var/lib/pullinfra/applied")
        ''')}, "first")
    bare = Path(remote.url.removeprefix("file://"))
    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    state.mkdir()
    (etc / "config.toml").write_text(textwrap.dedent('''\
        [source]
        url = "file:///repo"

        [[deployment]]
        name = "image"
        inventory = "inventory.py"
        deploys = ["deploy.py"]

        [reconcile]
        interval = 0
    '''))
    for path in (bare, state):  # git reads only repositories its own user owns
        subprocess.run(["chown", "-R", f"{UID}:{UID}", str(path)], check=True)
    mounts = ["-v", f"{bare}:/repo:ro", "-v", f"{etc}:/etc/pullinfra:ro",
              "-v", f"{state}:/var/lib/pullinfra"]
    done = podman_run(*mounts, image, "--once", "--config", "/etc/pullinfra/config.toml")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (state / "applied").is_dir()
    assert (state / "applied").stat().st_uid == UID
    shown = podman_run(*mounts, "--entrypoint", "pullinfra", image, "history", "--json",
                       "--config", "/etc/pullinfra/config.toml")
    assert shown.returncode == 0, shown.stderr
    (run,) = json.loads(shown.stdout)
    assert (run["revision"], run["status"]) == (sha, "changed")
    whoami = podman_run("--entrypoint", "id", image, "-u")
    assert whoami.stdout.strip() == str(UID)
