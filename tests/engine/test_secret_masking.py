"""Secrets in the engine's outputs: which data values are secret (`*_password`, `*_token`,
`*_secret`, `*_key`, nested keys, `secret()` from group data), that a template rendering them
shows `***` in its diff, that `_diff=False` keeps the diff out, and the masker's forms."""

from __future__ import annotations

import textwrap
import urllib.parse

import pytest

from agent.compat import load_inventory, run_deploy
from agent.engine.command import MASK
from agent.engine.errors import DeployError, InventoryError
from agent.engine.masking import DIFF_SUPPRESSED, Masker
from agent.engine.run import RunOptions
from agent.report.build import Provenance, from_result
from agent.vocab import Mode

CANARY = "Cnry-eng-5b1e"
VALUES = {
    "db_password": f"{CANARY}-pw",
    "api_token": f"{CANARY}-tok",
    "app_secret": f"{CANARY}-sec",
    "stripe_key": f"{CANARY}-key",
}
GROUP_DATA = textwrap.dedent(f'''
    from pullinfra import secret

    license = secret("{CANARY}-wrapped")
    nested = {{"admin_password": "{CANARY}-nested", "user": "visible-user"}}
    short_key = "ab"
''')


def _inventory(tmp_path, root) -> str:
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(GROUP_DATA)
    data = {**VALUES, "root": str(root), "ssh_key": "/keys/id_deploy"}
    path = tmp_path / "inventory.py"
    path.write_text(f"hosts = [('@local', {data!r})]\n")
    return str(path)


def test_secret_values_are_found_by_key_wrapper_and_nesting(tmp_path) -> None:
    inventory = load_inventory(_inventory(tmp_path, tmp_path))
    secrets = inventory.hosts[0].secrets
    assert set(VALUES.values()) <= secrets
    assert {f"{CANARY}-wrapped", f"{CANARY}-nested"} <= secrets
    assert "visible-user" not in secrets and "ab" not in secrets  # too short to mask
    assert "/keys/id_deploy" not in secrets  # ssh_key is a path
    # The wrapped value is a plain string for deploy code.
    license = inventory.hosts[0].data["license"]
    assert license == f"{CANARY}-wrapped" and f"{license}!" == f"{CANARY}-wrapped!"


DEPLOY = textwrap.dedent('''
    from pyinfra import host
    from pyinfra.operations import files, server

    values = [host.data.db_password, host.data.api_token, host.data.app_secret,
              host.data.stripe_key, host.data.license, host.data.nested["admin_password"]]
    files.template(name="shown", src="app.j2", dest=host.data.root + "/shown.conf",
                   values=values)
    files.template(name="hidden", src="app.j2", dest=host.data.root + "/hidden.conf",
                   values=values, _diff=False)
    server.shell(name=f"named after {host.data.api_token}", commands=["true"])
    server.shell(name="fails", commands=[f"echo {host.data.license} >&2; exit 4"])
''')


def test_template_diffs_mask_every_secret_and_diff_false_hides_the_diff(tmp_path) -> None:
    root = tmp_path / "target"
    root.mkdir()
    inventory = _inventory(tmp_path, root)
    (tmp_path / "app.j2").write_text("{% for v in values %}value = {{ v }}\n{% endfor %}")
    deploy = tmp_path / "deploy.py"
    deploy.write_text(DEPLOY)
    events: list = []

    plan = run_deploy(inventory, [deploy], RunOptions(mode=Mode.PLAN), events.append)
    result = run_deploy(inventory, [deploy], RunOptions(), events.append)

    assert CANARY in (root / "shown.conf").read_text()  # the host got the secrets
    for run in (plan, result):
        ops = {op.name: op for op in run.host("@local").operations}
        assert ops["shown"].diff.count(MASK) == 6, ops["shown"].diff
        assert ops["hidden"].diff == DIFF_SUPPRESSED
        report = from_result(run, Provenance(run_id=1)).to_json()
        assert CANARY not in report
    ops = {op.name: op for op in result.host("@local").operations}
    assert ops["fails"].exit_code == 4 and MASK in ops["fails"].stderr_tail
    assert f"named after {MASK}" in ops
    assert CANARY not in repr(events) + repr(result)


def test_a_host_listed_twice_with_two_passwords_names_neither(tmp_path) -> None:
    path = tmp_path / "inventory.py"
    path.write_text("a = [('@local', {'db_password': 'first-pw'})]\n"
                    "b = [('@local', {'db_password': 'second-pw'})]\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    message = str(info.value)
    assert "db_password" in message
    assert "first-pw" not in message and "second-pw" not in message


def test_a_deploy_error_raised_with_a_secret_in_it_is_masked(tmp_path) -> None:
    inventory = _inventory(tmp_path, tmp_path)
    deploy = tmp_path / "deploy.py"
    deploy.write_text("from pyinfra import host\nfrom pyinfra.api import DeployError\n"
                      "raise DeployError('bad ' + host.data.app_secret)\n")
    with pytest.raises(DeployError) as info:
        run_deploy(inventory, [deploy], RunOptions())
    assert str(info.value).startswith(f"{deploy}:3: bad {MASK}"), str(info.value)
    assert CANARY not in repr(info.value)


def test_a_secret_of_another_host_is_masked_too(tmp_path) -> None:
    """Deploy code for one host may render another host's secret (a web server's config
    holding the database's password): the run masks every host's secrets everywhere."""
    db = {"ssh_hostname": "127.0.0.1", "ssh_port": 1, "ssh_connect_retries": 0,
          "db_password": f"{CANARY}-db"}
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"hosts = [('@local', {{'root': {str(tmp_path)!r}}}), ('db', {db!r})]\n")
    deploy = tmp_path / "deploy.py"
    deploy.write_text(textwrap.dedent('''
        from pyinfra import host, inventory
        from pyinfra.operations import server

        if host.name == "@local":
            password = inventory.get_host("db").data.db_password
            server.shell(name="uses the db password", commands=[f"echo {password} >&2; false"])
    '''))

    result = run_deploy(str(inventory), [deploy], RunOptions())

    [op] = result.host("@local").operations
    assert op.status == "failed" and op.stderr_tail.strip() == MASK, op
    assert CANARY not in from_result(result, Provenance(run_id=1)).to_json()


def test_masker_hides_url_encoded_forms_and_each_line_of_a_multi_line_secret() -> None:
    key = "-----BEGIN KEY-----\nAAAAsecretline1\nBBBBsecretline2\n-----END KEY-----\n"
    odd = "p@ss word/7"
    mask = Masker([key, odd, ""])
    diff = "".join(f"+{line}\n" for line in key.splitlines())
    assert "secretline" not in mask(diff)
    assert mask(f"dsn=postgres://u:{urllib.parse.quote(odd, safe='')}@db") == "dsn=postgres://u:***@db"
    assert mask(f"q={urllib.parse.quote_plus(odd)}") == "q=***"
    assert mask("nothing here") == "nothing here"
