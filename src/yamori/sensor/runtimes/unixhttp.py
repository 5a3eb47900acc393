"""HTTP/1.1 over a unix socket: the podman and Docker Engine APIs (``http.client``, no extra
dependency; one short-lived connection per request, which both daemons handle in microseconds)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

__all__ = ["UnixHTTPConnection", "get_json"]


class UnixHTTPConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` whose transport is a unix stream socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def get_json(path: str, url: str, timeout: float) -> dict[str, Any] | None:
    """``GET url`` on the socket at ``path``: the JSON object on 200, else None (never raises
    for a daemon that is down, slow or answers garbage)."""
    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return None
        doc = json.loads(body)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
