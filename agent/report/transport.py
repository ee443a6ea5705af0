"""One HTTP POST with a timeout, mapped onto the typed delivery errors (stdlib only)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from agent import __version__
from agent.report.errors import PermanentError, RetryableError, is_retryable_status

USER_AGENT = f"pullinfra/{__version__}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def where(url: str) -> str:
    """scheme://host[:port] of a URL: enough to say where, without any secret in its path."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from webhook receivers; our backoff is enough


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST `body`; return the 2xx status or raise RetryableError / PermanentError."""
    return call("POST", url, body, headers, timeout)[0]


def call(method: str, url: str, body: bytes | None, headers: Mapping[str, str],
         timeout: float) -> tuple[int, bytes]:
    """Any method (forge APIs also GET, PATCH and PUT); the 2xx status and the answer's
    body, or RetryableError / PermanentError as for `post`."""
    all_headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **headers}
    request = urllib.request.Request(url, data=body, headers=all_headers, method=method)
    target = where(url)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            answer = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
        e.close()
        message = f"HTTP {status} {e.reason} from {target}"
        if is_retryable_status(status):
            raise RetryableError(
                message, status, _retry_after(e.headers.get("Retry-After"))
            ) from None
        raise PermanentError(message, status) from None
    except TimeoutError:
        raise RetryableError(f"timed out after {timeout:g}s posting to {target}") from None
    except urllib.error.URLError as e:
        raise RetryableError(f"cannot reach {target}: {e.reason}") from None
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        raise RetryableError(f"connection to {target} failed: {type(e).__name__}") from None
    if not 200 <= status < 300:
        raise PermanentError(f"unexpected HTTP {status} from {target}", status)
    return status, answer
