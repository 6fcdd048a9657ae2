from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tools.health_check import check_http


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()
        self.wfile.write(b"fine")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_healthy_endpoint(server: str) -> None:
    result = asyncio.run(check_http(f"{server}/ok"))
    assert result["ok"] and result["status"] == 200
    assert result["latency_ms"] >= 0


def test_unhealthy_endpoint(server: str) -> None:
    result = asyncio.run(check_http(f"{server}/broken"))
    assert not result["ok"] and result["status"] == 503


def test_refused_connection_and_bad_scheme() -> None:
    refused = asyncio.run(check_http("http://127.0.0.1:9/", timeout=0.5))
    assert not refused["ok"] and refused["error"]
    assert "only http" in asyncio.run(check_http("file:///etc/passwd"))["error"]
