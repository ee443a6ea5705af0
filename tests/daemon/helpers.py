"""A GitOps fixture for the daemon tests: a real bare remote holding an @local inventory and
a deploy that only touches a target folder in the test's tmp dir, plus config files."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from tests.agent.gitfixtures import HERMETIC_ENV, Remote
from tests.agent.process import PULLINFRA
from tests.agent.receivers import free_port

INVENTORY = 'hosts = ["@local"]\n'

SITE_DEPLOY = textwrap.dedent('''
    from pyinfra import host
    from pyinfra.operations import files, server

    files.directory(name="Create the target", path=host.data.root)
    files.put(name="Put a.txt", src="a.txt", dest=host.data.root + "/a.txt")
    files.put(name="Put b.txt", src="b.txt", dest=host.data.root + "/b.txt")
''').lstrip()

SLOW_DEPLOY = textwrap.dedent('''
    from pyinfra import host
    from pyinfra.operations import files, server

    files.directory(name="Create the target", path=host.data.root)
    server.shell(name="Slow step", commands=["sleep {sleep}"])
    files.put(name="Put a.txt", src="a.txt", dest=host.data.root + "/a.txt")
''').lstrip()

BROKEN_DEPLOY = "from pyinfra.operations import files\n\nfiles.directory(path=\n"


class Fleet:
    """The remote, the managed folder and a config writer for one test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.remote = Remote(tmp)
        self.target = tmp / "target"
        self.state = tmp / "state"
        self.port = free_port()

    def push(self, files: dict[str, str | None], message: str = "change") -> str:
        return self.remote.commit_and_push(files, message)

    def push_site(self, a: str = "A1\n", b: str = "B1\n", message: str = "site") -> str:
        return self.push({"inventory.py": INVENTORY, "deploys/site.py": SITE_DEPLOY,
                          "deploys/a.txt": a, "deploys/b.txt": b}, message)

    def config(self, name: str = "config.toml", *, poll: str = "1h", reconcile: str = "0",
               reconcile_mode: str = "apply", deploy: str = "deploys/site.py",
               notify_url: str | None = None, extra: str = "", grace: str = "30s",
               mode: str = "apply", inventory: str = "inventory.py") -> Path:
        notify = (f'[[notify]]\ntype = "webhook"\nname = "hook"\nurl = "{notify_url}"\n'
                  f'secret = "s3cret"\non = "all"\ntimeout = "2s"\n' if notify_url else "")
        text = textwrap.dedent(f'''
            shutdown_grace = "{grace}"
            [source]
            url = "{self.remote.url}"
            poll_interval = "{poll}"
            [[deployment]]
            name = "site"
            inventory = "{inventory}"
            deploys = ["{deploy}"]
            mode = "{mode}"
            data = {{ root = "{self.target}" }}
            [reconcile]
            interval = "{reconcile}"
            mode = "{reconcile_mode}"
            jitter = "0"
            [http]
            listen = "127.0.0.1:{self.port}"
            token = "tok"
            webhook_secret = "hooksecret"
            [state]
            dir = "{self.state}"
        ''').lstrip() + notify + extra
        path = self.tmp / name
        path.write_text(text)
        return path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULLINFRA_")}
    return {**clean, **HERMETIC_ENV}


def pullinfra(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PULLINFRA), *args], capture_output=True, text=True,
                          timeout=timeout, env=env())


def runs(state: Path) -> list[Any]:
    from agent.state import StateDB

    with StateDB.in_state_dir(state) as db:
        return list(reversed(db.list_runs(limit=1000)))

