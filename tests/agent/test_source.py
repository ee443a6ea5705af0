"""GitSource against real repositories: file:// and local-path remotes, real pushes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from agent.backoff import Backoff
from agent.config import SourceConfig
from agent.source import (
    FetchError,
    GitSource,
    NonFastForward,
    RefNotFound,
    VerificationFailed,
    paths_match,
)
from tests.agent.gitfixtures import (
    GpgSigner,
    Remote,
    allowed_signers,
    git,
    ssh_signing_key,
)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path)


def make_source(tmp_path: Path, url: str, **settings: object) -> GitSource:
    return GitSource(SourceConfig(url=url, **settings), tmp_path / "state")


def test_first_fetch_clones_and_describes_the_head(tmp_path: Path, remote: Remote) -> None:
    sha = remote.commit_and_push({"inventory.py": "hosts = []\n"}, "Add inventory\n\nbody")
    source = make_source(tmp_path, remote.url)
    result = source.fetch()
    assert result.revision == sha
    assert result.previous is None
    assert result.changed_paths is None
    assert result.author == "Ada Author <ada@example.com>"
    assert result.message == "Add inventory\n\nbody"
    assert result.summary == "Add inventory"
    assert result.verified is False and result.forced is False
    assert (tmp_path / "state" / "source" / "repo.git" / "HEAD").is_file()


def test_new_commit_is_fetched_with_changed_paths(tmp_path: Path, remote: Remote) -> None:
    first = remote.commit_and_push({"a.py": "1", "deploys/web.py": "x", "old.txt": "o"}, "one")
    source = make_source(tmp_path, remote.url)
    source.fetch()
    second = remote.commit_and_push({"deploys/web.py": "y", "old.txt": None, "new.txt": "n"},
                                    "two")
    result = source.fetch()
    assert (result.previous, result.revision) == (first, second)
    assert result.changed_paths == ("deploys/web.py", "new.txt", "old.txt")
    assert result.is_new
    again = source.fetch()
    assert again.revision == second and again.changed_paths == ()
    assert source.changed_paths(first, second) == ["deploys/web.py", "new.txt", "old.txt"]
    assert source.fetch(previous=first).changed_paths == result.changed_paths


def test_plain_local_path_remote_and_depth(tmp_path: Path, remote: Remote) -> None:
    for i in range(3):
        remote.commit_and_push({"f": str(i)}, f"c{i}")
    source = make_source(tmp_path, str(remote.bare), depth=1)
    first = source.fetch()
    assert first.revision == remote.head()
    assert git("--git-dir", str(source.git_dir), "rev-list", "--count", first.revision) == "1"
    newer = remote.commit_and_push({"g": "new"}, "c3")
    result = source.fetch()
    assert result.revision == newer
    assert result.changed_paths == ("g",)


def test_tag_and_commit_refs(tmp_path: Path, remote: Remote) -> None:
    tagged = remote.commit_and_push({"f": "1"}, "tagged")
    git("tag", "-a", "v1", "-m", "release", cwd=remote.work)
    git("push", "--quiet", "origin", "v1", cwd=remote.work)
    remote.commit_and_push({"f": "2"}, "later")
    assert make_source(tmp_path / "t", remote.url, ref="v1").fetch().revision == tagged
    assert make_source(tmp_path / "c", remote.url, ref=tagged).fetch().revision == tagged


def test_paths_filter() -> None:
    changed = ["deploys/web.py", "files/web/nginx.conf", "README.md"]
    assert paths_match([], changed)
    assert paths_match(["deploys"], changed)
    assert paths_match(["deploys/"], ["deploys/web.py"])
    assert not paths_match(["deploy"], ["deploys/web.py"])
    assert paths_match(["files/**/*.conf"], changed)
    assert paths_match(["**/nginx.conf"], changed)
    assert not paths_match(["files/*.conf"], changed)
    assert paths_match(["files/*"], changed), "a matched directory covers what is under it"
    assert not paths_match(["inventories/", "*.py"], changed)
    assert paths_match(["*.md"], changed)
    assert paths_match(["inventories/"], None), "unknown changes must trigger"
    assert not paths_match(["inventories/"], [])


def test_force_push_is_refused_and_keeps_being_refused(tmp_path: Path, remote: Remote) -> None:
    base = remote.commit_and_push({"f": "base"}, "base")
    applied = remote.commit_and_push({"f": "applied"}, "applied")
    source = make_source(tmp_path, remote.url)
    assert source.fetch().revision == applied
    remote.rewrite_to(base)
    rewritten = remote.commit({"f": "rewritten"}, "rewritten")
    remote.push(force=True)
    for _ in range(2):
        with pytest.raises(NonFastForward) as refused:
            source.fetch()
        assert (refused.value.previous, refused.value.new) == (applied, rewritten)
        assert applied[:12] in refused.value.message and rewritten[:12] in refused.value.message
        assert "`pullinfra rollback DEPLOYMENT [--to REV]`" in refused.value.message
    assert source.accepted == applied
    on_top = remote.commit_and_push({"g": "more"}, "more on the rewritten branch")
    with pytest.raises(NonFastForward):
        source.fetch()
    source.accept(on_top)
    assert source.fetch().revision == on_top


def test_force_push_is_refused_against_the_callers_baseline(tmp_path: Path,
                                                             remote: Remote) -> None:
    """A fresh clone (state lost) still refuses a head that does not descend from `previous`."""
    base = remote.commit_and_push({"f": "base"}, "base")
    applied = remote.commit_and_push({"f": "applied"}, "applied")
    remote.rewrite_to(base)
    remote.commit({"f": "other"}, "other")
    remote.push(force=True)
    git("push", "--quiet", "origin", f"{applied}:refs/heads/keep", cwd=remote.work)
    source = make_source(tmp_path, remote.url)
    with pytest.raises(NonFastForward):
        source.fetch(previous=applied)


def test_force_push_accepted_when_allowed(tmp_path: Path, remote: Remote) -> None:
    base = remote.commit_and_push({"f": "base"}, "base")
    applied = remote.commit_and_push({"f": "applied"}, "applied")
    source = make_source(tmp_path, remote.url, allow_non_fast_forward=True)
    source.fetch()
    remote.rewrite_to(base)
    rewritten = remote.commit({"f": "rewritten"}, "rewritten")
    remote.push(force=True)
    result = source.fetch()
    assert (result.revision, result.previous, result.forced) == (rewritten, applied, True)
    assert result.changed_paths == ("f",)


def test_checkout_is_exact_read_only_and_stable(tmp_path: Path, remote: Remote) -> None:
    first = remote.commit_and_push(
        {"deploys/web.py": "print('v1')\n", "inventory.py": "hosts = ['a']\n"}, "v1")
    os.chmod(remote.work / "deploys" / "web.py", 0o755)
    git("commit", "--quiet", "-am", "exec bit", cwd=remote.work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=remote.work)
    source = make_source(tmp_path, remote.url)
    revision = source.fetch().revision
    assert revision != first
    tree = source.checkout(revision)
    assert tree.name == revision
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*")) == [
        "deploys", "deploys/web.py", "inventory.py"]
    assert (tree / "deploys" / "web.py").read_text() == "print('v1')\n"
    mode = (tree / "deploys" / "web.py").stat().st_mode
    assert mode & stat.S_IXUSR and not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert not tree.stat().st_mode & stat.S_IWUSR
    remote.commit_and_push({"deploys/web.py": "print('v2')\n", "extra.py": ""}, "v2")
    newer = source.fetch().revision
    assert source.checkout(revision) == tree
    assert (tree / "deploys" / "web.py").read_text() == "print('v1')\n"
    assert not (tree / "extra.py").exists()
    assert (source.checkout(newer) / "extra.py").exists()


def test_old_checkouts_are_pruned(tmp_path: Path, remote: Remote) -> None:
    source = make_source(tmp_path, remote.url)
    revisions = []
    for i in range(4):
        remote.commit_and_push({"f": str(i)}, f"c{i}")
        revisions.append(source.fetch().revision)
        source.checkout(revisions[-1])
    for age, revision in enumerate(reversed(revisions)):
        os.utime(source.checkouts_dir / revision, (1_000_000 - age, 1_000_000 - age))
    removed = source.prune_checkouts(keep=[revisions[0]])
    assert sorted(removed) == sorted([revisions[1]])
    left = sorted(p.name for p in source.checkouts_dir.iterdir())
    assert left == sorted([revisions[0], revisions[2], revisions[3]])


def test_missing_repository_is_a_typed_fetch_error(tmp_path: Path) -> None:
    source = make_source(tmp_path, f"file://{tmp_path}/nowhere.git", timeout=20)
    with pytest.raises(FetchError) as failed:
        source.fetch()
    assert "nowhere.git" in failed.value.message


def test_missing_branch_is_ref_not_found(tmp_path: Path, remote: Remote) -> None:
    remote.commit_and_push({"f": "1"}, "c")
    with pytest.raises(RefNotFound):
        make_source(tmp_path, remote.url, ref="nope").fetch()


def test_token_and_credentials_never_reach_messages(tmp_path: Path) -> None:
    url = "https://user:hunter2@127.0.0.1:9/repo.git"
    source = make_source(tmp_path, url, token="tok-hunter3", timeout=10)
    assert "hunter2" not in source.display_url
    with pytest.raises(FetchError) as failed:
        source.fetch()
    assert "hunter2" not in failed.value.message and "hunter3" not in failed.value.message
    config_text = (source.git_dir / "config").read_text()
    assert "hunter3" not in config_text


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(base=2, cap=10, jitter=0)
    assert [backoff.failure() for _ in range(5)] == [2, 4, 8, 10, 10]
    backoff.success()
    assert backoff.failure() == 2
    jittered = Backoff(base=100, cap=100, jitter=0.5)
    assert all(50 <= jittered.failure() <= 100 for _ in range(20))


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Path, Path]:
    key = ssh_signing_key(tmp_path, "trusted")
    return key, allowed_signers(tmp_path / "allowed_signers", "ada@example.com", key)


def test_ssh_signed_head_is_verified(tmp_path: Path, remote: Remote,
                                     signer: tuple[Path, Path]) -> None:
    key, signers = signer
    sha = remote.commit_and_push({"f": "1"}, "signed", sign_with=key)
    result = make_source(tmp_path, remote.url, verify="head", allowed_signers=signers).fetch()
    assert (result.revision, result.verified) == (sha, True)


def test_unsigned_head_is_refused(tmp_path: Path, remote: Remote,
                                  signer: tuple[Path, Path]) -> None:
    key, signers = signer
    signed = remote.commit_and_push({"f": "1"}, "signed", sign_with=key)
    source = make_source(tmp_path, remote.url, verify="head", allowed_signers=signers)
    source.fetch()
    unsigned = remote.commit_and_push({"f": "2"}, "unsigned")
    with pytest.raises(VerificationFailed) as refused:
        source.fetch()
    assert refused.value.revision == unsigned
    assert "not signed" in refused.value.reason
    assert source.accepted == signed


def test_head_signed_by_an_unknown_key_is_refused(tmp_path: Path, remote: Remote,
                                                  signer: tuple[Path, Path]) -> None:
    _, signers = signer
    stranger = ssh_signing_key(tmp_path, "stranger")
    remote.commit_and_push({"f": "1"}, "signed by someone else", sign_with=stranger)
    source = make_source(tmp_path, remote.url, verify="head", allowed_signers=signers)
    with pytest.raises(VerificationFailed) as refused:
        source.fetch()
    assert "allowed_signers" in refused.value.reason
    assert source.accepted is None


@pytest.fixture
def gpg_signer(tmp_path: Path) -> GpgSigner:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    signer = GpgSigner(tmp_path / "gnupg-signer")
    yield signer
    signer.close()


def test_openpgp_signed_head_is_verified_and_others_refused(
        tmp_path: Path, remote: Remote, gpg_signer: GpgSigner) -> None:
    key = gpg_signer.export_public(tmp_path / "ada.asc")
    signed = remote.commit({"f": "1"}, "gpg signed", git_args=gpg_signer.git_args())
    remote.push()
    source = make_source(tmp_path, remote.url, verify="head", gpg_keys=[key])
    try:
        result = source.fetch()
        assert (result.revision, result.verified) == (signed, True)
        remote.commit_and_push({"f": "2"}, "unsigned")
        with pytest.raises(VerificationFailed):
            source.fetch()
        assert source.accepted == signed
    finally:
        subprocess.run(["gpgconf", "--homedir", str(source.root / "gnupg"), "--kill", "all"],
                       capture_output=True, check=False)


def test_ssh_transport_uses_the_configured_command_key_and_known_hosts(
        tmp_path: Path, remote: Remote) -> None:
    """A stand-in ssh that records its arguments and runs git's remote command locally."""
    sha = remote.commit_and_push({"f": "1"}, "over ssh")
    calls = tmp_path / "ssh-calls"
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{calls}"\n'
                        'for last; do :; done\nexec sh -c "$last"\n')
    fake_ssh.chmod(0o755)
    key, known_hosts = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    key.write_text("not used by the stand-in\n")
    known_hosts.write_text("")
    source = make_source(tmp_path, f"ssh://git@198.18.0.10{remote.bare}",
                         ssh_command=f"{fake_ssh} -p 2222", ssh_key=key,
                         known_hosts=known_hosts)
    assert source.fetch().revision == sha
    args = calls.read_text().splitlines()
    assert args[:2] == ["-p", "2222"]
    for expected in ("StrictHostKeyChecking=yes", "BatchMode=yes",
                     f"UserKnownHostsFile={known_hosts}", str(key), "IdentitiesOnly=yes"):
        assert expected in args
    assert "git@198.18.0.10" in args


def test_a_rename_counts_for_both_names_and_history_reads_the_clone(
        tmp_path: Path, remote: Remote) -> None:
    """A deployment's `paths` must see a file renamed out of (or into) its folder."""
    first = remote.commit_and_push({"app/site.conf": "x = 1\n" * 20}, "site")
    (remote.work / "old").mkdir()
    git("mv", "app/site.conf", "old/site.conf", cwd=remote.work)
    git("commit", "--quiet", "-m", "move the site config out of app/", cwd=remote.work)
    remote.push()
    moved = remote.head()
    last = remote.commit_and_push({"docs/readme.md": "hello\n"}, "docs")
    source = make_source(tmp_path, remote.url)
    source.fetch()
    assert source.changed_paths(first, moved) == ["app/site.conf", "old/site.conf"]
    assert source.touched_paths(moved) == ["app/site.conf", "old/site.conf"]
    assert [c.revision for c in source.overtaken(first, last)] == [moved]
    commit = source.commit(moved)
    assert commit.message == "move the site config out of app/"
    assert commit.author == "Ada Author <ada@example.com>"
    assert source.overtaken(last, first) == []  # not an ancestor: nothing was overtaken
    assert source.commit("f" * 40).author is None
