"""Check that an HTTP endpoint answers, how fast, and with which status."""

from __future__ import annotations

import functools
import ssl
import time
from typing import Any

import httpx

from chimera_engine.tooling import tool


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every check: building one reads the system's CA
    bundle (tens of ms on the event loop), which a client per call would do each time."""
    return ssl.create_default_context()


@tool(name="check_http", description="GET a URL and report status, latency and errors", timeout=15)
async def check_http(url: str, timeout: float = 2.0, expect_status: int = 200) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        return {
            "url": url,
            "ok": False,
            "status": None,
            "latency_ms": None,
            "error": "only http:// and https:// URLs can be checked",
        }
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, verify=_tls_context()
        ) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return {
            "url": url,
            "ok": False,
            "status": None,
            "latency_ms": round((time.perf_counter() - started) * 1e3, 2),
            "error": f"{type(exc).__name__}: {exc}",
        }
    latency = round((time.perf_counter() - started) * 1e3, 2)
    return {
        "url": url,
        "ok": response.status_code == expect_status,
        "status": response.status_code,
        "latency_ms": latency,
        "error": "",
    }
