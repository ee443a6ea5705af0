"""server facts: power, what deploy code asks before it reboots a host (server.reboot reads
the Uptime fact of facts/server/_system.py to see the host came back from a boot)."""

from __future__ import annotations

from agent.engine.fact import FactBase

__all__ = ["RebootRequired"]

_REBOOT_REQUIRED = "reboot_required"
_NO_REBOOT_REQUIRED = "no_reboot_required"


class RebootRequired(FactBase[bool]):
    """True when the host waits for a reboot to take an update into use.

    Debian's and Ubuntu's packages leave /var/run/reboot-required (and .pkgs) for it; on
    Alpine nothing is left behind, so a running kernel other than the newest installed
    modules means a reboot; on FreeBSD, a running kernel other than the installed one.
    """

    def command(self) -> str:
        return f"""
case "$(uname -s)" in
Linux)
    if [ -f /etc/alpine-release ]; then
        newest=$(ls -1 /lib/modules | sort -V | tail -n 1)
        [ "$(uname -r)" != "$newest" ] && echo {_REBOOT_REQUIRED} && exit 0
    elif [ -f /var/run/reboot-required ] || [ -f /var/run/reboot-required.pkgs ]; then
        echo {_REBOOT_REQUIRED}
        exit 0
    fi
    ;;
FreeBSD)
    if [ "$(freebsd-version -r)" != "$(freebsd-version -k)" ]; then
        echo {_REBOOT_REQUIRED}
        exit 0
    fi
    ;;
esac
echo {_NO_REBOOT_REQUIRED}
""".strip()

    def process(self, output: list[str]) -> bool:
        return output[0].strip() == _REBOOT_REQUIRED
