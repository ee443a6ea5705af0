"""Generic webhook: the ChangeReport JSON, signed so the receiver can trust it.

Headers: `X-Pullinfra-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the
notifier secret>` (omitted when no secret is configured), `X-Pullinfra-Delivery: <id>` (the
same id on every retry of one report, so receivers can drop duplicates) and
`X-Pullinfra-Event: change-report`.
"""

from __future__ import annotations

import hashlib
import hmac

from agent.report import transport
from agent.report.delivery import Delivery

SIGNATURE_HEADER = "X-Pullinfra-Signature"
DELIVERY_HEADER = "X-Pullinfra-Delivery"
EVENT_HEADER = "X-Pullinfra-Event"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for `body`: "sha256=<hex>"."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Receiver side of `sign`, in constant time; for receivers written in Python and tests."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


class WebhookSender:
    """POSTs each report as JSON to one URL."""

    def __init__(self, url: str, secret: str | None = None, timeout: float = 10.0):
        self.url = url
        self._secret = secret
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookSender({transport.where(self.url)!r})"

    def send(self, delivery: Delivery) -> None:
        headers = {DELIVERY_HEADER: delivery.id, EVENT_HEADER: "change-report"}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, delivery.body)
        transport.post(self.url, delivery.body, headers, self.timeout)
