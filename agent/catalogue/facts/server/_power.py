"""server facts: power, whether a host wants a reboot, and how long ago it booted (for
server.reboot to see that it came back from one)."""

from __future__ import annotations

from agent.engine.fact import FactBase, FactError

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


class InitAge(FactBase[float]):
    """Seconds (to the hundredth, from procfs) since the host's init (PID 1) started. On a
    machine that is its uptime; in a container, whose /proc/uptime may count the machine's,
    it is the time since the container booted. Not one of pyinfra's facts (so not
    exported): server.reboot reads it where pyinfra reads Uptime, so that a rebooted
    container is seen as rebooted too, and the fraction lets it tell a host that booted
    moments before the reboot from one that kept running. Where there is no procfs (BSD,
    macOS) it is the uptime, in whole seconds, from the boot time sysctl."""

    cacheable = False

    def command(self) -> str:
        # /proc/1/stat's 22nd field is init's start in clock ticks after boot; the name in
        # parentheses before it may hold spaces, so the fields are counted after it.
        return (
            "if [ -r /proc/1/stat ] && [ -r /proc/uptime ]; then"
            " hz=$(getconf CLK_TCK 2>/dev/null || echo 100);"
            " awk -v hz=\"$hz\" 'NR == FNR { up = $1; next }"
            " { sub(/^.*\\) /, \"\"); printf \"%.2f\\n\", up - $20 / hz }'"
            " /proc/uptime /proc/1/stat;"
            " else boot=$(sysctl -n kern.boottime | sed 's/^.*sec = \\([0-9]*\\).*$/\\1/');"
            " echo $(( $(date +%s) - boot )); fi"
        )

    def process(self, output: list[str]) -> float:
        text = output[0].strip()
        try:
            return float(text)
        except ValueError:
            raise FactError(f"server.InitAge: not a number of seconds: {text!r}") from None
