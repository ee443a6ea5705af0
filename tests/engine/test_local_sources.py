"""Relative local sources (files.put/template src) resolve as pyinfra resolves them: from the
project root pyinfra runs in, then beside the deploy file, so pyinfra repos run unchanged."""

from __future__ import annotations

from pathlib import Path


def _deploy(write, target: Path) -> Path:
    return write("deploys/site.py", f'''
        from pyinfra.operations import files

        files.put(name="root file", src="files/app.conf", dest="{target}/app.conf")
        files.put(name="beside file", src="local.conf", dest="{target}/local.conf")
        files.template(name="template", src="templates/motd.j2", dest="{target}/motd",
                       who="ops")
    ''')


def test_sources_resolve_from_the_project_root_then_beside_the_deploy(
    tmp_path, write, run_local
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    inventory = write("inventory.py", 'hosts = ["@local"]\n')
    write("files/app.conf", "from the project root\n")
    write("deploys/files/app.conf", "beside the deploy: pyinfra would not read this one\n")
    write("deploys/local.conf", "only beside the deploy\n")
    write("templates/motd.j2", "{% include 'templates/banner.j2' %}hello {{ who }}\n")
    write("templates/banner.j2", "** banner **\n")

    result = run_local(inventory, _deploy(write, target), project_root=tmp_path)

    assert not result.has_failures, result.hosts
    assert (target / "app.conf").read_text() == "from the project root\n"
    assert (target / "local.conf").read_text() == "only beside the deploy\n"
    assert (target / "motd").read_text() == "** banner **\nhello ops\n"


def test_a_missing_source_names_the_project_root_path(tmp_path, write, run_local) -> None:
    target = tmp_path / "target"
    target.mkdir()
    inventory = write("inventory.py", 'hosts = ["@local"]\n')
    deploy = write("deploys/site.py", f'''
        from pyinfra.operations import files

        files.put(name="missing", src="files/nope.conf", dest="{target}/nope.conf")
    ''')

    result = run_local(inventory, deploy, project_root=tmp_path)

    [host] = result.hosts
    assert host.status == "failed"
    assert str(tmp_path / "files" / "nope.conf") in (host.error or "")
