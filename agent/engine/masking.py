"""Hide secret values in anything the engine shows or stores (commands, stderr, diffs).

The masker only knows values, not where they came from, so it is applied to whole texts
(a diff, a command, an error message) as well as line by line: a secret that holds a newline
(a private key, a certificate) reaches a unified diff as several lines each with its own
`+`/`-` prefix, and only its lines can be found there. See docs/deploy-code.md (Secrets) for
what is masked and the known limits.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from agent.engine.command import MASK, MaskString

# Shorter values found by their key are not masked (agent/engine/inventory.py), nor shorter
# lines of a multi-line secret: masking "ok" or "}" would garble every output.
MIN_SECRET_LENGTH = 3
# What a report's diff says when the operation was given `_diff=False`.
DIFF_SUPPRESSED = "(diff suppressed)\n"


def secret(value: object) -> MaskString:
    """Mark a data value secret whatever its key is called: deploy code uses it as the plain
    string it is, every output the engine makes shows `***` in its place."""
    if isinstance(value, bytes):
        value = value.decode()
    return MaskString(value)


def _forms(secret: str) -> set[str]:
    """The value, its URL-encoded forms (a secret in a DSN or a query string) and, for a
    multi-line value, each of its lines long enough to be told apart."""
    found = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    if "\n" in secret:
        lines = (line.strip() for line in secret.splitlines())
        found.update(line for line in lines if len(line) >= MIN_SECRET_LENGTH)
    return found


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.update(_forms(str(secret)))
        # Longest first, so a secret that contains another is hidden whole.
        self.secrets = tuple(sorted(forms, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
