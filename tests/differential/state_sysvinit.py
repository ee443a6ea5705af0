"""State reader for the sysvinit cases: a service's runlevel links and where they point."""

from __future__ import annotations

import shlex

from tests.testbed import Host


def rc_links(host: Host, name: str) -> dict[str, str]:
    """Every /etc/rcN.d start or kill link of service `name`, and its target."""
    quoted = shlex.quote(name)
    listing = host.run(
        f"for l in /etc/rc[0-6S].d/[SK][0-9]*{quoted}; do"
        f' [ -L "$l" ] && echo "$l $(readlink "$l")"; done; true', check=True).stdout
    return dict(line.split(" ", 1) for line in listing.splitlines() if line)
