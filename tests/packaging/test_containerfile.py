"""The Containerfile, read statically: a pinned base, a non-root user, `pullinfra agent` as
the entrypoint, and nothing secret in the image or its build context."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRETISH = re.compile(r"(\.git\b|\.env\b|\.pem\b|\.key\b|id_rsa|id_ed25519|known_hosts|"
                       r"\.ssh|secret|token|password)", re.I)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Containerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_base_is_pinned_by_digest():
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for word, rest in instructions()
            if word == "ARG" and "=" in rest}
    froms = [rest for word, rest in instructions() if word == "FROM"]
    assert froms, "no FROM"
    for base in froms:
        base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.split()[0])
        assert re.search(r"@sha256:[0-9a-f]{64}$", base), base


def test_it_runs_as_a_numeric_non_root_user_set_last():
    users = [rest for word, rest in instructions() if word == "USER"]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    words = [word for word, _ in instructions()]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")


def test_the_entrypoint_is_pullinfra_agent():
    (entrypoint,) = [rest for word, rest in instructions() if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["pullinfra", "agent"]
    (cmd,) = [rest for word, rest in instructions() if word == "CMD"]
    assert json.loads(cmd) == ["--config", "/etc/pullinfra/config.toml"]


def test_no_secret_is_copied_in_or_baked_into_the_environment():
    for word, rest in instructions():
        if word in ("COPY", "ADD"):
            assert not SECRETISH.search(rest), rest
            assert not rest.startswith(". ") and " . " not in f" {rest} ", rest
        if word in ("ENV", "ARG"):
            names = re.findall(r"(\w+)=", rest)
            assert not [n for n in names if SECRETISH.search(n)], rest
    ignored = (ROOT / ".containerignore").read_text().split()
    for needed in (".git", ".venv*", "tests", "*.key", "*.pem", ".pullinfra", "known_hosts"):
        assert needed in ignored, needed
