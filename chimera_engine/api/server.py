"""ApiServer: runs the aiohttp application on the engine's loop."""

from __future__ import annotations

import ipaddress
import logging
import ssl

from aiohttp import web

from chimera_engine.api.app import build_app
from chimera_engine.api.context import ApiDeps
from chimera_engine.config import ApiSettings
from chimera_engine.errors import ConfigError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiServer:
    def __init__(self, deps: ApiDeps, settings: ApiSettings) -> None:
        self._deps = deps
        self.settings = settings
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def _ssl(self) -> ssl.SSLContext | None:
        cert, key = self.settings.tls_cert, self.settings.tls_key
        if not cert and not key:
            if not is_loopback(self.settings.host) and not self.settings.allow_plaintext:
                raise ConfigError(
                    f"api.host {self.settings.host} is not loopback: set api.tls_cert and "
                    "api.tls_key (or api.allow_plaintext = true behind a TLS proxy)"
                )
            return None
        if not (cert and key):
            raise ConfigError("api.tls_cert and api.tls_key must be set together")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"api.tls_cert/api.tls_key cannot be loaded: {exc}") from None
        return context

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls_cert else "http"
        return f"{scheme}://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        context = self._ssl()
        runner = web.AppRunner(
            build_app(self._deps), access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port, ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror}"
            ) from None
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        log.info("API listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
