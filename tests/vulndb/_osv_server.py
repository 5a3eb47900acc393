"""Loopback HTTP servers standing in for the OSV bucket (plain, ETag-aware, connection-dropping)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

# The real corpora (../shared/corpora), absent in a fresh clone.
CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; Python's handler already answers If-Modified-Since with 304."""

    requests_seen: list[tuple[str, dict[str, str]]]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.requests_seen.append((self.path, dict(self.headers.items())))
        super().do_GET()


class EtagHandler(QuietHandler):
    """Honours If-None-Match with a fixed ETag per path and sends no Last-Modified."""

    def do_GET(self) -> None:
        self.requests_seen.append((self.path, dict(self.headers.items())))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        etag = f'"{path.stat().st_size}-{path.stat().st_mtime_ns}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class DroppingHandler(QuietHandler):
    """Announces the whole file, sends half of it, then closes the connection."""

    def do_GET(self) -> None:
        self.requests_seen.append((self.path, dict(self.headers.items())))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def serve(
    directory: Path, handler: type[QuietHandler] = QuietHandler
) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """(base URL, log of (path, request headers)) of a server on a free loopback port."""
    seen: list[tuple[str, dict[str, str]]] = []
    cls = type("Handler", (handler,), {"requests_seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(cls, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
