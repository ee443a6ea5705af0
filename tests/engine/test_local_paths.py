"""Nothing a deploy names on this machine escapes the run's root (agent/engine/local_paths.py).

A symlink committed in the repository, a `..` or an absolute path that leaves it is refused
at prepare with the call's file:line and the path, before any host is touched; a symlink that
stays inside works. Deploy, inventory, group-data, included, config and helper-module files
are held to the same root. Runs use the real engine on @local (the run's files are real
files in tmp_path), and one test runs on a bed host over SSH.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agent.compat import run_deploy
from agent.engine.errors import DeployError, InventoryError
from agent.engine.local_paths import EscapingPathError, confine, default_root
from agent.engine.result import RunResult
from agent.engine.run import RunOptions

SECRET = "agent-only token\n"


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the agent's machine that no repository holds, with a secret in it."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_text(SECRET)
    (folder / "secret.py").write_text("stolen = 'yes'\nhosts = ['@local']\n")
    (folder / "dir").mkdir()
    (folder / "dir" / "secret.txt").write_text(SECRET)
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The deploy's tree: an @local inventory, a file, a template, a directory."""
    root = tmp_path / "repo"
    (root / "files" / "tree").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "inventory.py").write_text("hosts = ['@local']\n")
    (root / "files" / "app.conf").write_text("inside\n")
    (root / "files" / "tree" / "a.txt").write_text("a\n")
    (root / "templates" / "app.j2").write_text("port={{ port }}\n")
    return root


def _run(repo: Path, code: str, **options: object) -> RunResult:
    deploy = repo / "deploy.py"
    deploy.write_text(code)
    return run_deploy(str(repo / "inventory.py"), [str(deploy)], RunOptions(**options))


def _refused(repo: Path, code: str) -> DeployError:
    with pytest.raises(DeployError) as caught:
        _run(repo, code)
    return caught.value


# -- resolution ---------------------------------------------------------------------------


def test_a_path_is_judged_by_where_it_really_leads(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file").write_text("x")
    (root / "in-link").symlink_to("sub/file")
    (root / "dir-link").symlink_to(outside / "dir")
    (root / "up-link").symlink_to("..")
    (tmp_path / "root-sibling").mkdir()
    (tmp_path / "root-sibling" / "f").write_text("x")
    alias = tmp_path / "alias"
    alias.symlink_to(root)

    assert confine(root / "sub" / "file", root) == root / "sub" / "file"
    assert confine(root / "in-link", root) == root / "in-link"
    assert confine(root / "sub" / ".." / "sub" / "file", root) == root / "sub/../sub/file"
    assert confine(root / "not-yet" / "made", root) == root / "not-yet" / "made"
    assert confine(alias / "in-link", alias) == alias / "in-link"  # a root that is a link
    for leaving in (
        root / "dir-link" / "secret.txt",  # lexically inside, through a linked directory
        root / "up-link" / "root-sibling" / "f",
        root / ".." / "root-sibling" / "f",
        tmp_path / "root-sibling" / "f",  # a sibling whose name starts with the root's
        outside / "secret.txt",
    ):
        with pytest.raises(EscapingPathError) as caught:
            confine(leaving, root)
        assert caught.value.given == str(leaving)
        assert not caught.value.real.startswith(str(root) + "/")


def test_by_hand_the_root_is_the_git_work_tree_else_the_common_folder(tmp_path: Path) -> None:
    (tmp_path / "a" / "inventories").mkdir(parents=True)
    (tmp_path / "a" / "deploys").mkdir()
    folders = [tmp_path / "a" / "inventories", tmp_path / "a" / "deploys"]
    assert default_root(folders) == tmp_path / "a"
    (tmp_path / ".git").mkdir()
    assert default_root(folders) == tmp_path


# -- operations: refused at prepare, with file:line and the path -------------------------


@pytest.mark.parametrize(
    ("layout", "call"),
    [
        ({"files/evil.conf": "secret.txt"},
         'files.put(name="op", src="files/evil.conf", dest="{target}/x")'),
        ({}, 'files.put(name="op", src="files/../../../{outside_name}/secret.txt",'
             ' dest="{target}/x")'),
        ({}, 'files.put(name="op", src="{outside}/secret.txt", dest="{target}/x")'),
        ({}, 'files.put(name="op", src="{outside}/secret.txt", dest="{target}/x",'
             ' add_deploy_dir=False)'),
        ({"files/shared": "dir"},
         'files.put(name="op", src="files/shared/secret.txt", dest="{target}/x")'),
        ({"templates/evil.j2": "secret.txt"},
         'files.template(name="op", src="templates/evil.j2", dest="{target}/x")'),
        ({"files/site": "dir"}, 'files.sync(name="op", src="files/site", dest="{target}/s")'),
        ({"files/site": "dir"}, 'files.rsync(name="op", src="files/site/", dest="{target}/s")'),
        ({"files/run.sh": "secret.txt"}, 'server.script(name="op", src="files/run.sh")'),
        ({"files/run.j2": "secret.txt"}, 'server.script_template(name="op", src="files/run.j2")'),
        ({"fetched": "dir"},
         'files.get(name="op", src="/etc/hostname", dest="fetched/secret.txt")'),
        ({"files/a.tar": "secret.txt"},
         'files.unarchive(name="op", src="files/a.tar", dest="{target}")'),
        ({"keys/ops.pub": "secret.txt"},
         'server.user_authorized_keys(name="op", user="nobody", public_keys=["keys/ops.pub"])'),
    ],
    ids=["put", "dotdot", "absolute", "absolute-as-given", "linked-folder", "template", "sync",
         "rsync", "script", "script-template", "get-destination", "unarchive", "key-file"],
)
def test_an_operation_naming_a_file_outside_is_refused_at_prepare(
    repo: Path, outside: Path, tmp_path: Path, layout: dict[str, str], call: str
) -> None:
    target = tmp_path / "target"
    for name, points_to in layout.items():
        link = repo / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(outside / points_to)
    code = call.format(target=target, outside=outside, outside_name=outside.name)
    error = _refused(repo, "from pyinfra.operations import files, server\n"
                           f'files.directory(name="first", path="{target}")\n{code}\n')

    assert error.where == f"{repo / 'deploy.py'}:3"
    argument = "dest" if "files.get" in code else "public_keys" if "keys" in code else "src"
    [given] = re.findall(rf'{argument}=\[?"([^"]*)"', code)
    assert f"{argument}={given!r}" in error.what, error.what  # the path as the call wrote it
    assert str(outside) in error.what  # and where it leads
    assert not target.exists()  # prepare stopped the run: the first operation never ran


def test_a_file_like_source_names_no_file(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    deploy = repo / "deploy.py"
    deploy.write_text(
        "import io\nfrom pyinfra.operations import files\n"
        f'files.put(name="io", src=io.StringIO("from io\\n"), dest="{target}/io")\n'
    )
    result = run_deploy(str(repo / "inventory.py"), [str(deploy)])
    assert not result.has_failures, result.hosts
    assert (target / "io").read_text() == "from io\n"


def test_a_key_given_as_text_is_no_path(repo: Path) -> None:
    """public_keys holds keys or key files; a key's base64 has slashes but never leaves."""
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF/x+y/z+Kq/3w ops@laptop"
    result = _run(repo, "from pyinfra.operations import server\n"
                        f"server.user_authorized_keys(user='root', public_keys=[{key!r}])\n",
                  mode="plan")
    [op] = result.hosts[0].operations
    assert "outside" not in (op.error or ""), op.error


# -- what stays inside works --------------------------------------------------------------


def test_symlinks_that_stay_inside_work(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (repo / "files" / "link.conf").symlink_to("app.conf")
    (repo / "files" / "tree-link").symlink_to("tree")
    (repo / "templates" / "link.j2").symlink_to(repo / "templates" / "app.j2")
    (repo / "files" / "tree" / "up.conf").symlink_to("../app.conf")
    result = _run(repo, f"""from pyinfra.operations import files
files.put(name="put", src="files/link.conf", dest="{target}/put")
files.put(name="through dir", src="files/tree-link/a.txt", dest="{target}/through")
files.template(name="template", src="templates/link.j2", dest="{target}/tpl", port=80)
files.sync(name="sync", src="files/tree-link", dest="{target}/sync")
files.get(name="get", src="{target}/put", dest="files/tree-link/fetched")
""")
    assert not result.has_failures, [(o.name, o.error) for o in result.hosts[0].operations]
    assert (target / "put").read_text() == "inside\n"
    assert (target / "through").read_text() == "a\n"
    assert (target / "tpl").read_text() == "port=80\n"
    assert (target / "sync" / "a.txt").read_text() == "a\n"
    assert os.readlink(target / "sync" / "up.conf") == "../app.conf"  # a link, as in the tree
    assert (repo / "files" / "tree" / "fetched").read_text() == "inside\n"


# -- checked again when the file is opened ------------------------------------------------


def test_a_template_include_leading_outside_fails_the_operation(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (repo / "templates" / "secret.j2").symlink_to(outside / "secret.txt")
    (repo / "templates" / "app.j2").write_text("{% include 'templates/secret.j2' %}\n")
    result = _run(repo, f"""from pyinfra.operations import files
files.template(name="template", src="templates/app.j2", dest="{target}/tpl")
""")
    [op] = result.hosts[0].operations
    assert op.status == "failed"
    assert "secret.j2" in (op.error or "") and str(outside) in (op.error or "")
    assert not (target / "tpl").exists()


def test_sync_copies_a_link_leading_outside_as_a_link_never_its_content(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    (repo / "files" / "tree" / "evil").symlink_to(outside / "secret.txt")
    result = _run(repo, f"""from pyinfra.operations import files
files.sync(name="sync", src="files/tree", dest="{target}")
""")
    assert not result.has_failures
    assert os.readlink(target / "evil") == str(outside / "secret.txt")
    assert all(SECRET not in p.read_text() for p in target.iterdir() if not p.is_symlink())


def test_files_get_never_writes_through_a_link_beside_its_destination(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    """files.get writes a partial file beside the destination first; a committed link of
    that name must not carry the write outside."""
    (repo / "fetched").mkdir()
    (repo / "fetched" / ".out.txt.pullinfra-partial").symlink_to(outside / "secret.txt")
    (tmp_path / "remote.txt").write_text("fetched\n")
    result = _run(repo, f"""from pyinfra.operations import files
files.get(name="get", src="{tmp_path / 'remote.txt'}", dest="fetched/out.txt")
""")
    assert not result.has_failures, result.hosts
    assert (outside / "secret.txt").read_text() == SECRET
    assert (repo / "fetched" / "out.txt").read_text() == "fetched\n"


# -- the user's own files -----------------------------------------------------------------


def test_a_deploy_file_leading_outside_is_refused(repo: Path, outside: Path) -> None:
    (outside / "deploy.py").write_text("print('ran')\n")
    (repo / "deploy.py").symlink_to(outside / "deploy.py")
    with pytest.raises(DeployError) as caught:
        run_deploy(str(repo / "inventory.py"), [str(repo / "deploy.py")])
    assert "deploy file" in caught.value.what and str(outside) in caught.value.what


@pytest.mark.parametrize("name", ["inventory.py", "group_data/all.py"])
def test_inventory_files_leading_outside_are_refused(
    repo: Path, outside: Path, name: str
) -> None:
    (repo / "deploy.py").write_text("")
    link = repo / name
    link.parent.mkdir(exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(outside / "secret.py")
    with pytest.raises(InventoryError) as caught:
        run_deploy(str(repo / "inventory.py"), [str(repo / "deploy.py")])
    assert caught.value.where == str(link)
    assert str(outside / "secret.py") in caught.value.what


def test_an_agent_run_holds_the_inventory_to_the_checkout(repo: Path, outside: Path) -> None:
    """The daemon loads the inventory itself, with the checkout as root."""
    from agent.compat import load_inventory

    (repo / "group_data").mkdir()
    (repo / "group_data" / "all.py").symlink_to(outside / "secret.py")
    with pytest.raises(InventoryError):
        load_inventory(repo / "inventory.py", root=repo)
    assert load_inventory(repo / "inventory.py").hosts[0].data["stolen"] == "yes"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("tasks.py", "from pyinfra import local\nlocal.include('tasks.py')\n"),
        ("config.py", ""),
        ("helpers.py", "import helpers\n"),
    ],
)
def test_included_config_and_module_files_leading_outside_are_refused(
    repo: Path, outside: Path, name: str, code: str
) -> None:
    (repo / name).symlink_to(outside / "secret.py")
    error = _refused(repo, code)
    assert str(outside / "secret.py") in error.what


def test_the_agent_gives_the_checkout_as_root(repo: Path, tmp_path: Path) -> None:
    """RunOptions.local_root overrides the root found by hand: a file of the tree around
    the checkout is then outside."""
    (tmp_path / "beside.txt").write_text("beside\n")
    (repo / "files" / "beside.txt").symlink_to(tmp_path / "beside.txt")
    code = 'from pyinfra.operations import files\nfiles.put(src="files/beside.txt", dest="/x")\n'
    with pytest.raises(DeployError):
        _run(repo, code, local_root=repo, mode="plan")
    assert not _run(repo, code, local_root=tmp_path, mode="plan").has_failures


# -- on a real host ------------------------------------------------------------------------


def test_on_a_bed_host_an_escaping_symlink_applies_nothing_and_an_inside_one_works(
    bed_host, bed_inventory, tmp_path: Path, outside: Path
) -> None:
    inventory = bed_inventory([bed_host])
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "app.conf").write_text("inside\n")
    (tmp_path / "files" / "link.conf").symlink_to("app.conf")
    (tmp_path / "files" / "evil.conf").symlink_to(outside / "secret.txt")
    deploy = tmp_path / "deploy.py"
    good = 'files.put(name="good", src="files/link.conf", dest="/tmp/good.conf")\n'
    bad = 'files.put(name="evil", src="files/evil.conf", dest="/tmp/evil.conf")\n'
    deploy.write_text("from pyinfra.operations import files\n" + good + bad)

    with pytest.raises(DeployError) as caught:
        run_deploy(str(inventory), [str(deploy)])
    assert caught.value.where == f"{deploy}:3"
    assert "files/evil.conf" in caught.value.what and str(outside) in caught.value.what
    assert bed_host.read_file("/tmp/good.conf") is None  # refused before any host changed
    assert bed_host.read_file("/tmp/evil.conf") is None

    deploy.write_text("from pyinfra.operations import files\n" + good)
    result = run_deploy(str(inventory), [str(deploy)])
    assert not result.has_failures, result.hosts
    assert bed_host.read_file("/tmp/good.conf") == b"inside\n"
