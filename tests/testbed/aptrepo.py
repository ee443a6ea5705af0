"""A local apt repository for bed hosts, served over file://.

Real .debs are fetched once with `apt-get download` into CACHE/debs and kept between runs;
tiny packages for names Debian lacks are built with dpkg-deb. The repository lives under
/var/cache (the hosts' overlay lower=/ shows it; /tmp is fresh on each host).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.bed import flock

CACHE_ROOT = Path(os.environ.get("PULLINFRA_BED_CACHE", "/var/cache/pullinfra-testbed"))
DEB_CACHE = CACHE_ROOT / "debs"
REPO_DIR = CACHE_ROOT / "repo"

# Real Debian packages the repository must serve (their missing dependencies are added).
REAL_PACKAGES = ("htop", "iftop", "nginx", "nginx-common")

SVC_INIT = r"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          pullinfra-svc
# Required-Start:    $local_fs
# Required-Stop:     $local_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: pullinfra test bed dummy daemon
### END INIT INFO
PIDFILE=/run/pullinfra-svc.pid
DAEMON=/usr/sbin/pullinfra-svc
case "$1" in
  start)
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE \
        --exec $DAEMON --oknodo ;;
  stop)
    start-stop-daemon --stop --quiet --pidfile $PIDFILE --remove-pidfile --oknodo --retry 5 ;;
  restart|force-reload)
    "$0" stop; "$0" start ;;
  reload)
    start-stop-daemon --stop --signal HUP --quiet --pidfile $PIDFILE ;;
  status)
    if start-stop-daemon --status --pidfile $PIDFILE; then
        echo "pullinfra-svc is running"; exit 0
    else
        echo "pullinfra-svc is not running"; exit 3
    fi ;;
  *) echo "Usage: $0 {start|stop|restart|reload|status}" >&2; exit 2 ;;
esac
exit 0
"""

SVC_DAEMON = """#!/bin/sh
# pullinfra test bed dummy daemon: counts HUPs in /run/pullinfra-svc.reloads
trap 'echo reload >> /run/pullinfra-svc.reloads' HUP
while :; do sleep 1 & wait $!; done
"""


@dataclass(frozen=True)
class TinyPackage:
    name: str
    version: str
    description: str
    files: dict[str, tuple[str, int]]  # path -> (content, mode)
    conffiles: tuple[str, ...] = ()
    depends: str = ""


TINY_PACKAGES: tuple[TinyPackage, ...] = (
    TinyPackage(
        "postgresql-server", "1.0-pullinfra1",
        "stand-in for the example's postgresql-server (Debian has no such package)",
        {"/etc/postgresql-server/pg_hba.conf": ("# pullinfra test bed pg_hba.conf\n"
                                               "local all all peer\n", 0o644),
         "/usr/share/doc/postgresql-server/README": ("pullinfra test bed package\n", 0o644)},
        conffiles=("/etc/postgresql-server/pg_hba.conf",)),
    TinyPackage("pullinfra-dummy", "1.0", "pullinfra test bed dummy package, old version",
                {"/usr/share/pullinfra-dummy/VERSION": ("1.0\n", 0o644)}),
    TinyPackage("pullinfra-dummy", "2.0", "pullinfra test bed dummy package, new version",
                {"/usr/share/pullinfra-dummy/VERSION": ("2.0\n", 0o644)}),
    TinyPackage("pullinfra-dummy-extra", "1.0", "pullinfra test bed second dummy package",
                {"/usr/share/pullinfra-dummy-extra/VERSION": ("1.0\n", 0o644)}),
    TinyPackage("pullinfra-svc", "1.0", "pullinfra test bed dummy sysv service (not started)",
                {"/etc/init.d/pullinfra-svc": (SVC_INIT, 0o755),
                 "/usr/sbin/pullinfra-svc": (SVC_DAEMON, 0o755)},
                conffiles=("/etc/init.d/pullinfra-svc",)),
)


class AptRepoError(RuntimeError):
    pass


@dataclass(frozen=True)
class AptRepo:
    path: Path
    packages: dict[str, list[str]]  # name -> versions served

    @property
    def sources_line(self) -> str:
        return f"deb [trusted=yes] file:{self.path} ./"


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 600) -> str:
    res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise AptRepoError(f"{' '.join(argv)} failed ({res.returncode}): "
                           f"{(res.stderr or res.stdout).strip()[-2000:]}")
    return res.stdout


APT_OPTS = ["-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"]


def _needed_names() -> list[str]:
    """REAL_PACKAGES plus what installing them on this machine would pull in."""
    out = _run(["apt-get", "install", "-s", "-qq", *APT_OPTS, *REAL_PACKAGES])
    names = set(REAL_PACKAGES)
    names.update(m.group(1) for m in re.finditer(r"^Inst (\S+)", out, re.M))
    return sorted(n.split(":")[0] for n in names)


def _fetch_debs() -> list[Path]:
    """The cached .debs, downloading what is missing (once)."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    manifest = DEB_CACHE / "manifest.json"
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        files = [DEB_CACHE / f for f in json.loads(manifest.read_text())["files"]]
        if files and all(f.exists() for f in files):
            return files
    try:
        names = _needed_names()
    except AptRepoError:
        _run(["apt-get", "update", "-qq"])
        names = _needed_names()
    tmp = Path(tempfile.mkdtemp(prefix="dl-", dir=DEB_CACHE))
    try:
        try:
            _run(["apt-get", "download", "-qq", *APT_OPTS, *names], cwd=tmp)
        except AptRepoError:
            _run(["apt-get", "update", "-qq"])
            _run(["apt-get", "download", "-qq", *APT_OPTS, *names], cwd=tmp)
        files = []
        for f in sorted(tmp.glob("*.deb")):
            f.replace(DEB_CACHE / f.name)
            files.append(DEB_CACHE / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    manifest.write_text(json.dumps({"names": names, "files": [f.name for f in files]}))
    return files


def _build_tiny(pkg: TinyPackage, out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=out_dir) as td:
        root = Path(td)
        for path, (content, mode) in pkg.files.items():
            p = root / path.lstrip("/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
            os.chmod(p, mode)
        (root / "DEBIAN").mkdir()
        control = (f"Package: {pkg.name}\nVersion: {pkg.version}\nArchitecture: all\n"
                   f"Maintainer: pullinfra tests <tests@pullinfra.invalid>\n"
                   f"Section: misc\nPriority: optional\n"
                   + (f"Depends: {pkg.depends}\n" if pkg.depends else "")
                   + f"Description: {pkg.description}\n")
        (root / "DEBIAN/control").write_text(control)
        if pkg.conffiles:
            (root / "DEBIAN/conffiles").write_text("".join(c + "\n" for c in pkg.conffiles))
        out = out_dir / f"{pkg.name}_{pkg.version}_all.deb"
        _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)])
        return out


def _packages_index(repo: Path) -> str:
    """The Packages file for the .debs in repo (what dpkg-scanpackages --multiversion makes)."""
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        control = _run(["dpkg-deb", "-f", str(deb)]).rstrip("\n")
        data = deb.read_bytes()
        extra = (f"Filename: ./{deb.name}\nSize: {len(data)}\n"
                 f"MD5sum: {hashlib.md5(data).hexdigest()}\n"
                 f"SHA1: {hashlib.sha1(data).hexdigest()}\n"
                 f"SHA256: {hashlib.sha256(data).hexdigest()}")
        # Filename and checksums go right after Version/Architecture-ish fields; apt does not
        # care about order, but keep Description (multi-line) last as dpkg-scanpackages does.
        head, sep, desc = control.partition("\nDescription:")
        stanzas.append(f"{head}\n{extra}{sep}{desc}\n" if sep else f"{control}\n{extra}\n")
    return "\n".join(stanzas)


def _recipe_hash(debs: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(b"index-v2")
    h.update(repr(TINY_PACKAGES).encode())
    for d in debs:
        h.update(d.name.encode())
    return h.hexdigest()[:16]


def _read_packages_index(repo: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    name = None
    for line in (repo / "Packages").read_text().splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1]
        elif line.startswith("Version: ") and name:
            out.setdefault(name, []).append(line.split(": ", 1)[1])
    return out


def ensure_repo() -> AptRepo:
    """Build the repository if needed (under a lock; safe from several processes at once)."""
    with flock(CACHE_ROOT):
        debs = _fetch_debs()
        stamp = _recipe_hash(debs)
        if (REPO_DIR / "STAMP").is_file() and (REPO_DIR / "STAMP").read_text() == stamp:
            return AptRepo(REPO_DIR, _read_packages_index(REPO_DIR))
        tmp = Path(tempfile.mkdtemp(prefix="repo-", dir=CACHE_ROOT))
        try:
            for d in debs:
                os.link(d, tmp / d.name)
            for pkg in TINY_PACKAGES:
                _build_tiny(pkg, tmp)
            packages = _packages_index(tmp)
            (tmp / "Packages").write_text(packages)
            data = packages.encode()
            release = (
                "Origin: pullinfra-testbed\nLabel: pullinfra-testbed\nSuite: testbed\n"
                "Codename: testbed\n"
                f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S UTC', time.gmtime())}\n"
                "Architectures: amd64 all\nDescription: pullinfra test bed packages\n"
                "SHA256:\n"
                f" {hashlib.sha256(data).hexdigest()} {len(data)} Packages\n")
            (tmp / "Release").write_text(release)
            (tmp / "STAMP").write_text(stamp)
            os.chmod(tmp, 0o755)
            old = CACHE_ROOT / f"repo.old.{os.getpid()}"
            if REPO_DIR.exists():
                REPO_DIR.rename(old)
            tmp.rename(REPO_DIR)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return AptRepo(REPO_DIR, _read_packages_index(REPO_DIR))


# --------------------------------------------------------------------------- signed repository

SIGNED_ROOT = CACHE_ROOT / "signed"
SIGNING_UID = "pullinfra test bed signing key <signing@pullinfra.invalid>"

# Served only by the signed repository, so installing them proves apt trusted its key.
SIGNED_PACKAGES: tuple[TinyPackage, ...] = (
    TinyPackage("pullinfra-signed", "1.0", "pullinfra test bed package from the signed repo",
                {"/usr/share/pullinfra-signed/VERSION": ("1.0\n", 0o644)}),
)
# In no index at all: apt.deb installs it from its file.
DEB_FILE_PACKAGE = TinyPackage("pullinfra-debfile", "1.0", "pullinfra test bed loose .deb",
                               {"/usr/share/pullinfra-debfile/VERSION": ("1.0\n", 0o644)})


@dataclass(frozen=True)
class SignedRepo:
    """A flat repository with an InRelease signed by a key made for the test bed.

    ``repo`` is the URI path (``file:{repo}``), ``key_asc``/``key_gpg`` the public key armored
    and binary, ``fingerprint`` its fingerprint, ``deb_file`` a .deb no repository serves.
    ``served`` holds what a test may serve over HTTP: the .deb and a copy of ``key_asc``.
    Everything is under /var/cache, which bed hosts see as it is here.
    """

    repo: Path
    key_asc: Path
    key_gpg: Path
    fingerprint: str
    deb_file: Path

    @property
    def served(self) -> Path:
        return self.deb_file.parent

    def sources_line(self, keyring: str) -> str:
        return f"deb [signed-by={keyring}] file:{self.repo} ./"


def _gpg(home: Path, *argv: str) -> str:
    return _run(["gpg", "--homedir", str(home), "--batch", "--quiet", *argv], timeout=120)


def _signing_key(home: Path) -> str:
    """The fingerprint of the bed's signing key, made once (no passphrase, never expires)."""
    done = home / "FINGERPRINT"
    if done.is_file():
        return done.read_text().strip()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o700)
    _gpg(home, "--passphrase", "", "--quick-gen-key", SIGNING_UID, "ed25519", "sign", "never")
    for line in _gpg(home, "--with-colons", "--list-keys").splitlines():
        if line.startswith("fpr:"):
            done.write_text(line.split(":")[9] + "\n")
            return line.split(":")[9]
    raise AptRepoError(f"no signing key in {home}")


def ensure_signed_repo() -> SignedRepo:
    """Build the signed repository and the loose .deb if needed (under the cache lock)."""
    with flock(CACHE_ROOT):
        SIGNED_ROOT.mkdir(parents=True, exist_ok=True)
        os.chmod(SIGNED_ROOT, 0o755)
        fingerprint = _signing_key(SIGNED_ROOT / "gnupg")
        home = SIGNED_ROOT / "gnupg"
        repo, files = SIGNED_ROOT / "repo", SIGNED_ROOT / "files"
        key_asc = SIGNED_ROOT / "pullinfra-testbed.asc"
        key_gpg = SIGNED_ROOT / "pullinfra-testbed.gpg"
        deb_file = files / f"{DEB_FILE_PACKAGE.name}_{DEB_FILE_PACKAGE.version}_all.deb"
        stamp = hashlib.sha256(
            repr((SIGNED_PACKAGES, DEB_FILE_PACKAGE, fingerprint, "signed-v2")).encode()
        ).hexdigest()[:16]
        result = SignedRepo(repo, key_asc, key_gpg, fingerprint, deb_file)
        if (SIGNED_ROOT / "STAMP").is_file() and (SIGNED_ROOT / "STAMP").read_text() == stamp:
            return result
        for old in (repo, files):
            shutil.rmtree(old, ignore_errors=True)
            old.mkdir(mode=0o755)
        for pkg in SIGNED_PACKAGES:
            _build_tiny(pkg, repo)
        _build_tiny(DEB_FILE_PACKAGE, files)
        packages = _packages_index(repo)
        (repo / "Packages").write_text(packages)
        data = packages.encode()
        (repo / "Release").write_text(
            "Origin: pullinfra-testbed-signed\nLabel: pullinfra-testbed-signed\n"
            "Suite: signed\nCodename: signed\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S UTC', time.gmtime())}\n"
            "Architectures: amd64 all\nDescription: pullinfra test bed signed packages\n"
            "SHA256:\n"
            f" {hashlib.sha256(data).hexdigest()} {len(data)} Packages\n")
        for out in (repo / "InRelease", repo / "Release.gpg", key_asc, key_gpg):
            out.unlink(missing_ok=True)
        _gpg(home, "--local-user", fingerprint, "--clearsign",
             "-o", str(repo / "InRelease"), str(repo / "Release"))
        _gpg(home, "--local-user", fingerprint, "--armor", "--detach-sign",
             "-o", str(repo / "Release.gpg"), str(repo / "Release"))
        _gpg(home, "--armor", "--export", "-o", str(key_asc), fingerprint)
        _gpg(home, "--export", "-o", str(key_gpg), fingerprint)
        shutil.copyfile(key_asc, files / key_asc.name)
        # The agent gpg started for signing is not needed once the repository is signed.
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                       capture_output=True, check=False)
        for path in (repo, files, key_asc, key_gpg, *repo.iterdir(), *files.iterdir()):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        (SIGNED_ROOT / "STAMP").write_text(stamp)
        return result
