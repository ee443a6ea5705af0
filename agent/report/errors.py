"""Typed delivery errors: the outbox retries one kind and gives up on the other.

The rule, for HTTP receivers:

- **retryable** (`RetryableError`): the receiver could not take the report *now*: connection
  refused or reset, DNS failure, timeout, 5xx, 408 (timeout), 425 (too early), 429 (rate limit).
  The report stays at the head of its notifier's queue and is retried with backoff, forever
  (a receiver down for an hour gets everything once back).
- **permanent** (`PermanentError`): the receiver looked at the request and refused it: every
  other 4xx (400 bad payload, 401/403 bad credentials, 404 wrong URL, 422 invalid state, ...),
  an unexpected 3xx (redirects are not followed: re-POSTing a signed body elsewhere is not
  what the operator configured), or a stored payload that no longer parses. Sending the same
  bytes again cannot succeed, and retrying forever would block every later report of that
  notifier (delivery is strictly FIFO), so the report is dropped, logged and counted as
  `pullinfra_notifications_total{result="dropped"}`.

Messages name the status and the receiver's scheme://host only: webhook URLs (Slack's in
particular) carry secrets in their path and must not reach logs or the state DB.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A report could not be delivered."""

    retryable: bool = False

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RetryableError(DeliveryError):
    retryable = True

    def __init__(self, message: str, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after
        """Seconds the receiver asked us to wait (Retry-After), if it said."""


class PermanentError(DeliveryError):
    retryable = False


def is_retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500
