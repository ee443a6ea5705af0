"""The canary: secrets never leave in any output, table or file (docs/deploy-code.md, Secrets).

One canary, in a different value for every secret-bearing place: host data `*_password`,
`*_token`, `*_secret`, `*_key`, a `secret()` value in group data, the sudo password, the SSH
key's passphrase (an encrypted key on a real bed host), the notifier secrets (webhook HMAC key,
a Slack URL, a GitHub token), the API token and the webhook secret. A template renders the
host-data secrets into a file on the host. A real agent then applies, a `pullinfra plan` shows
a change to that file, the file is changed on the host and a reconcile corrects it, and a
commit with a command that echoes a secret on stderr fails. After that the canary is searched
for in every output, the agent's log, every file and table under the state directory (the
checkouts aside: the repository holds the secrets by design), the metrics, every API answer
and every report the receiver got, after receivers refused reports and a webhook and an API
call were refused. It must be nowhere, while the host's file holds it.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import textwrap
from pathlib import Path

from tests.acceptance_agent.harness import DEPLOYMENT, FINISHED, clean_env, to_toml
from tests.agent.receivers import http
from tests.polling import wait_for

CANARY = "Cnry9q7Zx"
PLACES = ("app_password", "api_token", "app_secret", "stripe_key", "wrapped", "sudo",
          "passphrase", "notify", "slack", "github", "http_token", "hook")
VALUE = {place: f"{CANARY}-{place.replace('_', '-')}" for place in PLACES}
HOST_DATA_SECRETS = ("app_password", "api_token", "app_secret", "stripe_key")
FILE = "/srv/app/secrets.conf"
HIDDEN = "/srv/app/hidden.conf"
USER = "alice"

GROUP_DATA = f'from pullinfra import secret\n\nlicense = secret("{VALUE["wrapped"]}")\n'
TEMPLATE = "".join(f"{key} = {{{{ host.data.{key} }}}}\n" for key in HOST_DATA_SECRETS)
TEMPLATE += "license = {{ host.data.license }}\n"
DEPLOY = textwrap.dedent(f'''
    from pyinfra import host
    from pyinfra.operations import files, server

    files.directory(name="app dir", path="/srv/app")
    files.template(name="secrets file", src="secrets.j2", dest="{FILE}")
    files.template(name="hidden file", src="secrets.j2", dest="{HIDDEN}", _diff=False)
''')
FAILING = DEPLOY + textwrap.dedent('''
    server.shell(name="echoes a secret and fails",
                 commands=["echo leaking {} >&2; exit 3".format(host.data.app_password)])
''')


def _forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode().rstrip("=")]


FORBIDDEN = [CANARY] + [form for value in VALUE.values() for form in _forms(value)[1:]]


def _leaks(text: str) -> list[str]:
    return [form for form in FORBIDDEN if form in text]


def _prepare_host(host, tmp_path: Path) -> Path:
    """A sudo user who needs a password, reached with a copy of the bed's key that is
    encrypted with a passphrase."""
    host.run(f"useradd -m -s /bin/sh {USER} && echo '{USER}:{VALUE['sudo']}' | chpasswd"
             f" && install -d -m 700 -o {USER} /home/{USER}/.ssh"
             f" && install -m 600 -o {USER} /root/.ssh/authorized_keys /home/{USER}/.ssh/",
             check=True)
    host.write_file(f"/etc/sudoers.d/{USER}", f"{USER} ALL=(ALL) ALL\n", mode=0o440)
    key = tmp_path / "locked_key"
    key.write_bytes(host.bed.client_key.read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", VALUE["passphrase"], "-f", str(key)],
                   check=True, capture_output=True)
    return key


def _tree(host, key: Path, deploy: str, template: str = TEMPLATE) -> dict[str, str]:
    data = {**host.ssh_data, "ssh_user": USER, "ssh_key": str(key),
            "ssh_key_password": VALUE["passphrase"], "_sudo": True,
            "_sudo_password": VALUE["sudo"],
            **{name: VALUE[name] for name in HOST_DATA_SECRETS}}
    return {"inventory.py": f"hosts = [({host.name!r}, {data!r})]\n",
            "group_data/all.py": GROUP_DATA, "secrets.j2": template, "deploy.py": deploy}


def _configure(agent, receiver) -> str:
    """The agent's secrets hold the canary too; returns the API token to call it with."""
    config = agent.config
    config["http"]["token"] = VALUE["http_token"]
    config["http"]["webhook_secret"] = VALUE["hook"]
    config["notify"] = [
        {"type": "webhook", "name": "hook", "url": f"{receiver.url}/reports",
         "secret": VALUE["notify"], "timeout": "5s"},
        {"type": "slack", "name": "slack", "url": f"{receiver.url}/services/{VALUE['slack']}",
         "timeout": "5s"},
        {"type": "github-status", "name": "github", "url": f"{receiver.url}/repos/org/app",
         "secret": VALUE["github"], "timeout": "5s"},
    ]
    agent.config_path.write_text(to_toml(config))
    return VALUE["http_token"]


def _api(agent, token: str, path: str) -> bytes:
    status, _, body = http("GET", agent.url + path,
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert status == 200, (path, status, body[:300])
    return body


def _runs(agent, token: str) -> list[dict]:
    body = _api(agent, token, f"/api/runs?deployment={DEPLOYMENT}&limit=1000")
    return sorted(json.loads(body)["runs"], key=lambda run: run["id"])


def _wait_run(agent, token: str, what: str, predicate) -> dict:
    return wait_for(lambda: next((r for r in _runs(agent, token) if predicate(r)), None), 180,
                    what, interval=0.5, describe=agent.log_tail)


def _state_texts(state: Path) -> dict[str, str]:
    """Every file under the state dir but the checkouts (raw bytes, as latin-1), and a full
    SQL dump of every SQLite database."""
    texts: dict[str, str] = {}
    for path in sorted(p for p in state.rglob("*") if p.is_file()):
        if "checkouts" in path.relative_to(state).parts:
            continue
        texts[str(path)] = path.read_bytes().decode("latin-1")
        if path.suffix == ".db":
            with sqlite3.connect(path) as db:
                texts[f"{path} (dump)"] = "\n".join(db.iterdump())
    return texts


def test_a_canary_secret_is_found_in_no_output_file_or_table(
        remote, bed_host, receiver, make_agent, tmp_path):
    key = _prepare_host(bed_host, tmp_path)
    outputs: dict[str, str] = {}
    first = remote.commit_and_push(_tree(bed_host, key, DEPLOY), "secrets file")
    agent = make_agent(url=remote.url, reconcile_interval="3s", reconcile_mode="apply")
    token = _configure(agent, receiver)
    agent.start()
    agent.wait_ready()

    # An apply: the host really gets every secret, through sudo with its password.
    applied = _wait_run(agent, token, "the first apply",
                        lambda r: r["revision"] == first and r["status"] in FINISHED)
    assert applied["status"] == "changed", agent.log_tail()
    written = bed_host.read_text(FILE) or ""
    for name in (*HOST_DATA_SECRETS, "wrapped"):
        assert VALUE[name] in written, (name, written)
    assert bed_host.stat(FILE).st_uid == 0  # written as root: sudo took the password
    report = json.loads(_api(agent, token, f"/api/runs/{applied['id']}"))["report"]
    ops = {op["name"]: op for op in report["hosts"][0]["operations"]}
    assert ops["secrets file"]["diff"].count("***") == 5, ops["secrets file"]["diff"]
    assert ops["hidden file"]["diff"] == "(diff suppressed)\n"

    # A plan of a changed template, human and JSON.
    plan_dir = tmp_path / "plan"
    for name, text in _tree(bed_host, key, DEPLOY, TEMPLATE + "extra = 1\n").items():
        (plan_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (plan_dir / name).write_text(text)
    for flags in ((), ("--json",)):
        done = subprocess.run([str(agent.pullinfra), "plan", *flags, "inventory.py",
                               "deploy.py"], cwd=plan_dir, env=clean_env(),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[f"plan {flags} stdout"] = done.stdout
        outputs[f"plan {flags} stderr"] = done.stderr
    assert "+extra = 1" in outputs["plan ('--json',) stdout"]
    assert "***" in outputs["plan () stdout"] + outputs["plan () stderr"]

    # A drift report: the file changed on the host, a reconcile corrects it.
    bed_host.write_file(FILE, "tampered\n")
    drift = _wait_run(agent, token, "a reconcile that corrects the drift",
                      lambda r: r["status"] == "drift_corrected")
    assert VALUE["app_password"] in (bed_host.read_text(FILE) or "")

    # A failed run: a command echoes a secret on stderr.
    failing = remote.commit_and_push(_tree(bed_host, key, FAILING), "a failing command")
    failed = _wait_run(agent, token, "the failed run",
                       lambda r: r["revision"] == failing and r["status"] == "failed")
    report = json.loads(_api(agent, token, f"/api/runs/{failed['id']}"))["report"]
    ops = {op["name"]: op for op in report["hosts"][0]["operations"]}
    assert ops["echoes a secret and fails"]["exit_code"] == 3
    assert "leaking ***" in ops["echoes a secret and fails"]["stderr_tail"]

    # Every report reached the receiver (the outbox is empty when the search starts).
    wait_for(lambda: len([r for r in receiver.received() if r.path == "/reports"]) >= 3, 60,
             "reports of the apply, the drift and the failure", interval=0.5)
    wait_for(lambda: any("/statuses/" in r.path for r in receiver.received()), 60,
             "a GitHub commit status", interval=0.5)
    wait_for(lambda: any(r.path.startswith("/services/") for r in receiver.received()), 60,
             "a Slack message", interval=0.5)

    # Refusals leave error messages in the log and the outbox: every receiver refuses a
    # report for good, the webhook gets a bad signature, the API a wrong token.
    receiver.status = 404
    status, _, body = http("POST", agent.url + "/api/trigger",
                           body=json.dumps({"deployment": DEPLOYMENT}).encode(),
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
    assert status == 202, body
    agent.wait_for("report dropped", timeout=120, count=3)
    status, _, _ = http("POST", agent.url + "/hooks/github", body=b'{"ref": "x"}',
                        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00",
                                 "Content-Type": "application/json"})
    assert status == 401
    assert http("GET", agent.url + "/api/runs",
                headers={"Authorization": f"Bearer {CANARY}-wrong"})[0] == 401

    # The search.
    outputs["metrics"] = agent.get("/metrics")[2].decode()
    outputs["/api/runs"] = _api(agent, token, f"/api/runs?deployment={DEPLOYMENT}&limit=1000"
                                ).decode()
    for run in _runs(agent, token):
        outputs[f"/api/runs/{run['id']}"] = _api(agent, token, f"/api/runs/{run['id']}").decode()
    for run_id in (applied["id"], drift["id"], failed["id"]):
        shown = agent.cli("show", str(run_id))
        outputs[f"show {run_id}"] = shown.stdout + shown.stderr
    for args in (("history", "--json"), ("show", str(failed["id"]), "--json")):
        done = agent.cli(*args)
        assert done.returncode == 0, done.stderr
        outputs[" ".join(args)] = done.stdout + done.stderr
    for number, request in enumerate(receiver.received()):
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        outputs[f"report {number} to {request.path.split('/')[1]}"] = (
            request.body.decode() + json.dumps(headers))
    agent.terminate()
    outputs["agent log"] = agent.log()
    outputs.update(_state_texts(Path(agent.config["state"]["dir"])))

    assert len(outputs) > 10 and any("(dump)" in name for name in outputs), list(outputs)
    leaks = {name: _leaks(text) for name, text in outputs.items() if _leaks(text)}
    assert leaks == {}
