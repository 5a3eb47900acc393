"""A yamori server under uvicorn in a thread, on a free loopback port, for HTTP and browser tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from support.registry import free_port
from yamori.server import ServerSettings, create_app
from yamori.store import Store


@contextmanager
def serve_in_thread(store: Store) -> Iterator[str]:
    """The base URL while the server runs; stopped (open alert streams cut after 2 s) on exit."""
    port = free_port()
    config = uvicorn.Config(
        create_app(ServerSettings(port=port), store=store),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,  # open alert streams must not hold the shutdown
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
