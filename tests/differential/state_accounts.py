"""State reader for the accounts differential cases: each account with everything server.user
and server.user_authorized_keys decide, read from the host itself (see state.py)."""

from __future__ import annotations

from collections.abc import Iterable

from tests.differential import state
from tests.testbed import Host


def _shadow_password(host: Host, name: str) -> str | None:
    for line in (host.read_text("/etc/shadow") or "").splitlines():
        fields = line.split(":")
        if fields[0] == name and len(fields) > 1:
            return fields[1]
    return None


def _comment(host: Host, name: str) -> str | None:
    for line in (host.read_text("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if fields[0] == name and len(fields) == 7:
            return fields[4]
    return None


def accounts(host: Host, names: Iterable[str]) -> dict[str, dict | None]:
    """state.users (uid, gid, groups, shell, home, authorized_keys text) plus the comment, the
    shadow password field, what the home holds, and type/owner/mode of the home, ~/.ssh and
    authorized_keys (None: no such user)."""
    found = state.users(host, names)
    for name, user in found.items():
        if user is None:
            continue
        home = user["home"]
        ssh = f"{home.rstrip('/')}/.ssh"
        paths = state.files(host, [home, ssh, f"{ssh}/authorized_keys"])
        for info in paths.values():
            info.pop("sha256", None)  # the key text itself is compared, below
        listing = host.run(["ls", "-A", home]) if user["home_exists"] else None
        user.update(
            comment=_comment(host, name),
            password=_shadow_password(host, name),
            home_entries=sorted(listing.stdout.split()) if listing else None,
            home_stat=paths[home],
            ssh_dir_stat=paths[ssh],
            authorized_keys_stat=paths[f"{ssh}/authorized_keys"],
        )
    return found
