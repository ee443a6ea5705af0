"""Typed source failures, so the daemon can tell "retry later" from "refuse this commit".

Messages are safe to log and report: URLs are scrubbed of credentials before they get here.
"""

from __future__ import annotations


class SourceError(Exception):
    """Any reason the source could not hand out a commit to apply."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FetchError(SourceError):
    """The remote could not be reached or read; transient, so back off and retry."""


class FetchTimeout(FetchError):
    """The fetch ran past `source.timeout` and was stopped."""


class RefNotFound(FetchError):
    """The remote has no branch, tag or commit called `source.ref`."""


class NonFastForward(SourceError):
    """The new head does not descend from the last accepted commit (a force-push).

    Never applied unless `allow_non_fast_forward` is set; the refusal persists across polls
    until history returns to a descendant or an operator accepts the new head.
    """

    def __init__(self, ref: str, previous: str, new: str) -> None:
        super().__init__(
            f"refusing {ref} at {new[:12]}: it does not descend from the last accepted commit "
            f"{previous[:12]} (force-push or rewritten history). To go back to an earlier "
            "commit, run `pullinfra rollback DEPLOYMENT [--to REV]` instead of force-pushing; "
            "to accept this head, set source.allow_non_fast_forward = true"
        )
        self.ref = ref
        self.previous = previous
        self.new = new


class VerificationFailed(SourceError):
    """The head commit's signature is missing or not from a trusted key."""

    def __init__(self, revision: str, reason: str) -> None:
        super().__init__(f"refusing commit {revision[:12]}: signature not verified: {reason}")
        self.revision = revision
        self.reason = reason


class CheckoutError(SourceError):
    """A commit's tree could not be exported for a run."""
