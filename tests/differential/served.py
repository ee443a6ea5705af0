"""An HTTP server the bed hosts can reach, for operations that fetch from a URL (apt.deb,
apt.key, files.download): it listens on the bed's gateway, the machine's end of every host's
link, so nothing leaves the machine."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.agent.receivers import FreeBindHTTPServer
from tests.testbed import Bed


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_directory(bed: Bed, directory: Path) -> Iterator[str]:
    """Serve `directory` to the bed's hosts; yields the base URL as they see it."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = FreeBindHTTPServer((bed.gateway, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{bed.gateway}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
