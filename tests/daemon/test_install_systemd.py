"""`pullinfra install-systemd --root DIR`: what lands where, and the refusals that leave the
machine as it was. Starting the units under real systemd is tests/systemd_units."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.cli import main
from agent.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def install(root: Path, *args: str) -> int:
    return main(["install-systemd", "--root", str(root), *args])


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


def test_local_mode_installs_the_shipped_unit_a_config_and_the_command(tmp_path, capsys):
    assert install(tmp_path, "--mode", "local", "--repo", "https://git.example.com/infra.git",
                   "--deploy", "web.py", "--deploy", "db.py") == 0
    assert files_under(tmp_path) == {"usr/local/bin/pullinfra",
                                     "etc/systemd/system/pullinfra-local.service",
                                     "etc/pullinfra/config.toml"}
    unit = tmp_path / "etc/systemd/system/pullinfra-local.service"
    assert unit.read_bytes() == (ROOT / "systemd/pullinfra-local.service").read_bytes()
    link = tmp_path / "usr/local/bin/pullinfra"
    assert link.is_symlink() and link.resolve() == Path(sys.executable).with_name(
        "pullinfra").resolve()
    config = load_config(tmp_path / "etc/pullinfra/config.toml", env=None)
    assert config.source.url == "https://git.example.com/infra.git"
    assert [(d.name, d.inventory, d.deploys) for d in config.deployment] == [
        ("local", "inventory.py", ["web.py", "db.py"])]
    assert (tmp_path / "etc/pullinfra/config.toml").stat().st_mode & 0o777 == 0o600
    err = capsys.readouterr().err
    assert "wrote /etc/pullinfra/config.toml" in err and "systemctl enable --now" in err


def test_once_mode_installs_the_service_and_its_timer(tmp_path):
    assert install(tmp_path, "--mode", "once", "--repo", "file:///srv/infra.git") == 0
    for unit in ("pullinfra-once.service", "pullinfra-once.timer"):
        assert (tmp_path / "etc/systemd/system" / unit).read_bytes() == \
            (ROOT / "systemd" / unit).read_bytes()


def test_an_existing_config_is_kept_and_must_load(tmp_path, capsys):
    config = tmp_path / "etc/pullinfra/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[source]\nurl = "file:///srv/mine.git"\n')
    assert install(tmp_path, "--repo", "file:///srv/other.git") == 0
    assert config.read_text() == '[source]\nurl = "file:///srv/mine.git"\n'
    assert "keeping the existing /etc/pullinfra/config.toml" in capsys.readouterr().err


def test_an_invalid_config_installs_nothing(tmp_path, capsys):
    config = tmp_path / "etc/pullinfra/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[source]\nurl = "file:///srv/mine.git"\npoll_intervall = "1m"\n')
    assert install(tmp_path) == 2
    err = capsys.readouterr().err
    assert f"{config}:3" in err and "poll_intervall" in err and "nothing was installed" in err
    assert files_under(tmp_path) == {"etc/pullinfra/config.toml"}


def test_no_config_and_no_repository_installs_nothing(tmp_path, capsys):
    assert install(tmp_path, "--mode", "local") == 2
    assert "pass --repo URL" in capsys.readouterr().err
    assert files_under(tmp_path) == set()


def test_a_bad_repository_url_is_refused_before_anything_is_written(tmp_path, capsys):
    assert install(tmp_path, "--repo", "ftp://example.com/infra.git") == 2
    assert "unsupported scheme 'ftp'" in capsys.readouterr().err
    assert files_under(tmp_path) == set()


def test_another_program_at_the_command_path_is_replaced_only_with_force(tmp_path, capsys):
    other = tmp_path / "usr/local/bin/pullinfra"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\n")
    assert install(tmp_path, "--repo", "file:///srv/infra.git") == 2
    assert "is already another program" in capsys.readouterr().err
    assert not (tmp_path / "etc").exists()
    assert install(tmp_path, "--repo", "file:///srv/infra.git", "--force") == 0
    assert other.is_symlink()


def test_central_mode_refuses_a_pullinfra_its_unit_could_not_see(tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.setattr(sys, "prefix", "/home/ada/venv")
    assert install(tmp_path, "--mode", "central", "--repo", "file:///srv/infra.git") == 2
    err = capsys.readouterr().err
    assert "ProtectHome=yes" in err and "/opt/pullinfra" in err
    assert files_under(tmp_path) == set()


def test_central_mode_installs_its_system_user(tmp_path, monkeypatch):
    # A pullinfra outside /root and /home, as the central unit needs (this test's own
    # interpreter may well live under /root).
    venv = tmp_path / "opt/pullinfra/bin"
    venv.mkdir(parents=True)
    for name in ("python3", "pullinfra"):
        (venv / name).write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "executable", str(venv / "python3"))
    monkeypatch.setattr(sys, "prefix", str(venv.parent))
    root = tmp_path / "root"
    assert install(root, "--mode", "central", "--repo", "file:///srv/infra.git") == 0
    assert (root / "usr/local/bin/pullinfra").resolve() == venv / "pullinfra"
    assert (root / "etc/sysusers.d/pullinfra.conf").read_bytes() == \
        (ROOT / "systemd/pullinfra.sysusers").read_bytes()
    assert (root / "etc/systemd/system/pullinfra.service").read_bytes() == \
        (ROOT / "systemd/pullinfra.service").read_bytes()
