"""server facts: scripts, what server.script needs to know before it uploads one."""

from __future__ import annotations

from agent.engine.fact import FactBase

__all__ = ["TmpDir"]


class TmpDir(FactBase[str]):
    """The host's temporary directory from the environment (TMPDIR, then TMP, then TEMP),
    the first that is a writable directory; an empty string when none is, so the caller
    falls back to /tmp."""

    def command(self) -> str:
        checks = " el".join(
            f'if [ -n "${var}" ] && [ -d "${var}" ] && [ -w "${var}" ]; then echo "${var}";'
            for var in ("TMPDIR", "TMP", "TEMP")
        )
        return f'{checks} else echo ""; fi'

    def process(self, output: list[str]) -> str:
        return "\n".join(output).strip()
