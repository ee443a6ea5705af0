"""The source stage: git clone/fetch, signature checks, immutable checkouts per commit."""

from agent.source.errors import (
    CheckoutError,
    FetchError,
    FetchTimeout,
    NonFastForward,
    RefNotFound,
    SourceError,
    VerificationFailed,
)
from agent.source.git_source import FetchResult, GitSource
from agent.source.history import Commit
from agent.source.paths import paths_match

__all__ = [
    "CheckoutError",
    "Commit",
    "FetchError",
    "FetchResult",
    "FetchTimeout",
    "GitSource",
    "NonFastForward",
    "RefNotFound",
    "SourceError",
    "VerificationFailed",
    "paths_match",
]
