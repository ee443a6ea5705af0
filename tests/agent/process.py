"""`pullinfra agent --config FILE` as a real subprocess, shared by the daemon and acceptance
tests: started, signalled and stopped by its pid, its output appended to a log file."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
PULLINFRA = ROOT / ".venv" / "bin" / "pullinfra"


class AgentProcess:
    """One agent config run as a subprocess (again after a stop: `start` may be called again)."""

    def __init__(self, config: Path, log: Path, env: Mapping[str, str],
                 cwd: Path | None = None, name: str = "agent",
                 pullinfra: Path = PULLINFRA) -> None:
        self.pullinfra = pullinfra
        self.config_path = config
        self.log_path = log
        self.env = dict(env)
        self.cwd = cwd
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # lifecycle
    def start(self) -> AgentProcess:
        assert not self.running(), "agent already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts} =====\n".encode())
            self.proc = subprocess.Popen(
                [str(self.pullinfra), "agent", "--config", str(self.config_path)],
                cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        """The exit code (subprocess.TimeoutExpired if it does not exit in time)."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait for the exit code (SIGKILL and fail if it does not exit)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"agent did not exit within {timeout}s of SIGTERM"
                                 f"\n{self.log_tail()}") from None

    def kill(self) -> int | None:
        """SIGKILL if still running; the exit code (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(10)

    def cleanup(self) -> None:
        """Teardown: SIGTERM by pid, SIGKILL if it has not exited 20 s later."""
        if not self.running():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    # the log
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log()
        except FileNotFoundError:
            return "(no agent log)"
        return f"--- {self.name} log (last {lines} lines) ---\n" + "\n".join(
            text.splitlines()[-lines:])

    def wait_for(self, text: str, timeout: float = 30.0, count: int = 1) -> None:
        """Until `text` is in the log `count` times; fails at once if the agent exits."""
        def seen() -> bool:
            if self.log().count(text) >= count:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"agent exited ({self.proc.returncode}):\n{self.log()}")
            return False

        wait_for(seen, timeout, f"{text!r} x{count} in the log", interval=0.05,
                 describe=self.log)
