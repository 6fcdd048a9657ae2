"""SettingsService: the engine's settings and the LLM providers' API keys.

Reading is open to every human role (nothing secret is in the settings; keys
are only reported as stored or not). Changing settings, storing or clearing a
key and testing a provider need ``settings.manage`` (administrators).

Some settings apply at once (:data:`LIVE`: the provider, alert thresholds, the
auto-approve policy, the watch window); the others (data dir, workspace, API
bind, swarm backend, ...) are saved and take effect at the next start. The
audit log names the keys that changed, never a value of a key or a secret.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chimera_engine.config import CodegenSettings, Settings
from chimera_engine.config_write import apply_changes, file_values, write_config
from chimera_engine.errors import ChimeraError, ConfigError, ValidationError
from chimera_engine.metrics.collectors import ToolCallCollector
from chimera_engine.metrics.hub import MetricsHub
from chimera_engine.patches.provider_failures import describe_failure
from chimera_engine.patches.providers.base import Provider
from chimera_engine.patches.review import ApprovalPolicy, ReviewQueue
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal
from chimera_engine.security.secretstore import SecretStore, SecretStoreError

#: The provider kinds that can have a stored key.
KEY_KINDS = ("openai", "anthropic", "local", "ollama")
_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

_PROVIDER_KEYS = frozenset(
    f"codegen.{k}"
    for k in (
        "provider",
        "model",
        "base_url",
        "api_key_env",
        "transcript",
        "max_attempts",
        "max_cost_usd",
        "max_tokens",
        "context_tokens",
        "request_timeout",
    )
)
_POLICY_KEYS = frozenset({"codegen.auto_approve", "codegen.auto_approve_max_lines"})
_WATCH_KEYS = frozenset({"codegen.watch_seconds", "codegen.watch_min_calls"})
_ALERT_KEYS = frozenset({"metrics.confidence_threshold", "metrics.latency_threshold_ms"})
#: Settings that apply at once; every other one takes effect at the next start.
LIVE = _PROVIDER_KEYS | _POLICY_KEYS | _WATCH_KEYS | _ALERT_KEYS
_ALERT_METRICS = {
    "metrics.confidence_threshold": "tool.confidence",
    "metrics.latency_threshold_ms": "tool.latency_ms",
}


@dataclass(frozen=True, kw_only=True)
class ProviderKeyStatus:
    """Whether a key is available for ``kind``; never the key itself."""

    kind: str
    stored: bool
    env_var: str
    env_set: bool


@dataclass(frozen=True, kw_only=True)
class SettingsView:
    """The settings the engine will use from its next start on, and how each applies.

    ``values`` is ``{section: {key: value}}`` (paths as text, unset optional
    paths as ``""``). ``pending_restart`` lists saved keys not in effect yet;
    ``env_overrides`` maps keys set by ``CHIMERA_*`` variables (which win over the
    file) to the variable's name.
    """

    values: dict[str, dict[str, Any]]
    live: frozenset[str]
    pending_restart: frozenset[str]
    env_overrides: dict[str, str]
    config_path: str
    keys: dict[str, ProviderKeyStatus]
    key_backend: str
    key_error: str = ""

    def value(self, dotted: str) -> Any:
        section, _, key = dotted.partition(".")
        return self.values[section][key]


@dataclass(frozen=True, kw_only=True)
class SettingsChange:
    """What a save changed: every key, those applied now, those waiting for a restart."""

    changed: tuple[str, ...]
    applied: tuple[str, ...]
    at_restart: tuple[str, ...]
    overridden: tuple[str, ...]
    view: SettingsView


@dataclass(frozen=True, kw_only=True)
class ConnectionReport:
    """The outcome of a provider test: ``kind`` is ``ok``, ``auth``, ``unreachable``,
    ``timeout``, ``model`` (unknown model), ``not_api`` (an HTML page, malformed
    JSON, no chat completion), ``wrong_api`` (another API kind), ``scripted``,
    ``rate_limited``, ``config`` or ``error``."""

    ok: bool
    kind: str
    message: str
    provider: str
    model: str
    elapsed_s: float


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    return str(value) if isinstance(value, Path) else value


def _settings_values(settings: Settings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(settings):
        section = getattr(settings, f.name)
        if dataclasses.is_dataclass(section) and not isinstance(section, type):
            out[f.name] = {k: _plain(v) for k, v in dataclasses.asdict(section).items()}
    return out


def env_overrides(
    values: Mapping[str, Mapping[str, Any]], env: Mapping[str, str]
) -> dict[str, str]:
    """``section.key`` -> the ``CHIMERA_*`` variable that sets it, for those set in ``env``."""
    found: dict[str, str] = {}
    for section, keys in values.items():
        for key in keys:
            var = f"CHIMERA_{section.upper()}__{key.upper()}"
            if var in env:
                found[f"{section}.{key}"] = var
    if "CHIMERA_DATA_DIR" in env:
        found["engine.data_dir"] = "CHIMERA_DATA_DIR"
    return found


class SettingsService:
    """Needs the running settings and a way to replace them, the parts that take live
    settings (the review queue, the tool-call collector, the metrics hub), a callback
    that retires the code generator, and the guard."""

    def __init__(
        self,
        guard: Guard,
        *,
        settings: Callable[[], Settings],
        replace_settings: Callable[[Settings], None],
        retire_generator: Callable[[], None],
        queue: Callable[[], ReviewQueue],
        tool_collector: Callable[[], ToolCallCollector | None],
        hub: MetricsHub,
    ) -> None:
        self._guard = guard
        self._settings = settings
        self._replace_settings = replace_settings
        self._retire_generator = retire_generator
        self._queue = queue
        self._tool_collector = tool_collector
        self._hub = hub
        #: saved values that take effect at the next start (this engine's lifetime)
        self._pending: dict[str, dict[str, Any]] = {}
        self._keys: SecretStore | None = None

    def _pending_restart(self) -> dict[str, dict[str, Any]]:
        return self._pending

    def _key_store(self) -> SecretStore:
        store = self._keys
        data_dir = self._settings().data_dir
        if store is None or store.data_dir != data_dir:
            store = self._keys = SecretStore(data_dir)
        return store

    # -- reading ---------------------------------------------------------------------------
    async def get_settings(self, principal: Principal) -> SettingsView:
        """The settings (nothing secret: keys are reported as stored or not)."""
        await self._guard.allow(principal, Permission.ENGINE_STATUS)
        return await asyncio.to_thread(self._view)

    def _view(self) -> SettingsView:
        values = _settings_values(self._settings())
        pending = self._pending_restart()
        for section, saved in pending.items():
            values[section].update({k: _plain(v) for k, v in saved.items()})
        store = self._key_store()
        keys: dict[str, ProviderKeyStatus] = {}
        error = ""
        cg = self._settings().codegen
        for kind in KEY_KINDS:
            env_var = _KEY_ENV.get(kind, "CHIMERA_LOCAL_API_KEY")
            if cg.api_key_env and kind == _key_kind(cg.provider):
                env_var = cg.api_key_env
            try:
                stored = store.has(kind)
            except SecretStoreError as exc:
                stored, error = False, str(exc)
            keys[kind] = ProviderKeyStatus(
                kind=kind,
                stored=stored,
                env_var=env_var,
                env_set=bool(os.environ.get(env_var, "").strip()),
            )
        path = self._settings().config_path
        return SettingsView(
            values=values,
            live=LIVE,
            pending_restart=frozenset(f"{s}.{k}" for s, ks in pending.items() for k in ks),
            env_overrides=env_overrides(values, os.environ),
            config_path=str(path) if path is not None else "",
            keys=keys,
            key_backend=store.backend,
            key_error=error,
        )

    # -- changing --------------------------------------------------------------------------
    async def update_settings(
        self, principal: Principal, changes: Mapping[str, Mapping[str, Any]]
    ) -> SettingsChange:
        """Validate ``changes`` (``{section: {key: value}}``), save them to the settings
        file, apply the live ones at once. ConfigError names the first bad key;
        nothing is saved or applied then."""
        await self._guard.allow(principal, Permission.SETTINGS_MANAGE)
        path = self._settings().config_path
        base = self._effective_for_save()
        try:
            if path is None:
                raise ConfigError(
                    "the engine was started without a settings file, so changes cannot be saved"
                )
            updated = apply_changes(base, changes)
        except ConfigError as exc:
            await self._guard.record(principal, "settings.update", outcome="error", reason=str(exc))
            raise
        written = file_values(updated, changes)
        changed = tuple(
            f"{s}.{k}"
            for s, keys in written.items()
            for k in keys
            if getattr(getattr(base, s), k) != getattr(getattr(updated, s), k)
        )
        await asyncio.to_thread(write_config, path, written)
        applied = tuple(k for k in changed if k in LIVE)
        at_restart = tuple(k for k in changed if k not in LIVE)
        pending = self._pending_restart()
        for dotted in at_restart:
            section, _, key = dotted.partition(".")
            value = getattr(getattr(updated, section), key)
            if value == getattr(getattr(self._settings(), section), key):
                pending.get(section, {}).pop(key, None)  # back to what is running
            else:
                pending.setdefault(section, {})[key] = value
        await self._apply_live(updated, applied)
        overridden = tuple(k for k in changed if k in env_overrides(written, os.environ))
        await self._guard.record(
            principal,
            "settings.update",
            target=str(path),
            changed=list(changed),
            applied=list(applied),
            at_restart=list(at_restart),
        )
        return SettingsChange(
            changed=changed,
            applied=applied,
            at_restart=at_restart,
            overridden=overridden,
            view=await asyncio.to_thread(self._view),
        )

    def _effective_for_save(self) -> Settings:
        """The running settings with the saved-for-restart values on top."""
        settings = self._settings()
        pending = self._pending_restart()
        if not pending:
            return settings
        sections = {
            s: dataclasses.replace(getattr(settings, s), **keys) for s, keys in pending.items()
        }
        return dataclasses.replace(settings, **sections)

    async def _apply_live(self, updated: Settings, applied: tuple[str, ...]) -> None:
        if not applied:
            return
        live_codegen = {
            k.partition(".")[2]: getattr(updated.codegen, k.partition(".")[2])
            for k in applied
            if k.startswith("codegen.")
        }
        live_metrics = {
            k.partition(".")[2]: getattr(updated.metrics, k.partition(".")[2])
            for k in applied
            if k.startswith("metrics.")
        }
        running = self._settings()
        self._replace_settings(
            dataclasses.replace(
                running,
                codegen=dataclasses.replace(running.codegen, **live_codegen),
                metrics=dataclasses.replace(running.metrics, **live_metrics),
            )
        )
        cg, metrics = self._settings().codegen, self._settings().metrics
        if _PROVIDER_KEYS.intersection(applied):
            self._retire_generator()
        if _POLICY_KEYS.intersection(applied):
            queue = self._queue()
            old = queue.approval
            queue.approval = ApprovalPolicy(
                auto_approve=cg.auto_approve,
                max_changed_lines=cg.auto_approve_max_lines,
                allow_risk=old.allow_risk,
            )
        if _WATCH_KEYS.intersection(applied):
            queue = self._queue()
            queue.watch_policy = dataclasses.replace(
                queue.watch_policy, seconds=cg.watch_seconds, min_calls=cg.watch_min_calls
            )
        if _ALERT_KEYS.intersection(applied):
            thresholds = {
                "tool.confidence": metrics.confidence_threshold,
                "tool.latency_ms": metrics.latency_threshold_ms,
            }
            collector = self._tool_collector()
            if collector is not None:
                collector.thresholds = dict(thresholds)
            for dotted in _ALERT_KEYS.intersection(applied):
                name = _ALERT_METRICS[dotted]
                for info in self._hub.metrics():
                    if info.key == name or info.key.startswith(name + "{"):
                        self._hub.engine.set_thresholds(info.key, thresholds[name])

    # -- provider keys ---------------------------------------------------------------------
    async def set_provider_key(
        self, principal: Principal, kind: str, key: str
    ) -> ProviderKeyStatus:
        """Store ``kind``'s API key (OS keyring, else the encrypted file). Audited
        without the key; the provider in use is rebuilt for the next request."""
        kind = _key_kind(kind)
        await self._guard.allow(principal, Permission.SETTINGS_MANAGE, target=f"provider:{kind}")
        if kind not in KEY_KINDS:
            raise ValidationError(f"{kind!r} providers take no API key")
        store = self._key_store()
        try:
            where = await asyncio.to_thread(store.set, kind, key)
        except SecretStoreError as exc:
            await self._guard.record(
                principal,
                "settings.key_set",
                target=f"provider:{kind}",
                outcome="error",
                reason=str(exc),
            )
            raise
        if _key_kind(self._settings().codegen.provider) == kind:
            self._retire_generator()
        await self._guard.record(
            principal, "settings.key_set", target=f"provider:{kind}", backend=where
        )
        return (await asyncio.to_thread(self._view)).keys[kind]

    async def clear_provider_key(self, principal: Principal, kind: str) -> ProviderKeyStatus:
        kind = _key_kind(kind)
        await self._guard.allow(principal, Permission.SETTINGS_MANAGE, target=f"provider:{kind}")
        if kind not in KEY_KINDS:
            raise ValidationError(f"{kind!r} providers take no API key")
        removed = await asyncio.to_thread(self._key_store().delete, kind)
        if _key_kind(self._settings().codegen.provider) == kind:
            self._retire_generator()
        await self._guard.record(
            principal, "settings.key_clear", target=f"provider:{kind}", removed=removed
        )
        return (await asyncio.to_thread(self._view)).keys[kind]

    # -- test connection -------------------------------------------------------------------
    async def test_provider(
        self,
        principal: Principal,
        codegen: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 15.0,
    ) -> ConnectionReport:
        """Send one tiny request through the provider ``codegen`` describes (the
        ``[codegen]`` values to try on top of the current ones) and say how it went.

        ``api_key`` tries a key before it is stored. Never raises for a provider
        failure: the report says what is wrong in operator words.
        """
        from chimera_engine.patches.configure import provider_from_settings
        from chimera_engine.patches.providers.factory import test_connection
        from chimera_engine.patches.providers.retry import RetryPolicy

        await self._guard.allow(principal, Permission.SETTINGS_MANAGE)
        started = time.monotonic()
        provider: Provider | None = None
        cg = self._settings().codegen
        try:
            cg = apply_changes(self._settings(), {"codegen": dict(codegen or {})}).codegen
            policy = RetryPolicy(max_attempts=1, total_timeout=timeout)
            provider = await asyncio.to_thread(
                provider_from_settings,
                cg,
                keys=self._key_store(),
                api_key=api_key or None,
                retry=policy,
            )
            message = await asyncio.wait_for(
                test_connection(provider, timeout=timeout), timeout + 2
            )
            report = _report(True, "scripted" if provider.is_replay else "ok", message, cg, started)
        except TimeoutError:
            slow = (
                f"No answer within {timeout:g} s: the server is too slow or stuck (a local "
                "model may need longer: raise codegen request_timeout)"
            )
            report = _report(False, "timeout", slow, cg, started)
        except (ChimeraError, ValueError, TypeError, OSError) as exc:
            kind, message = describe_failure(exc, cg.model)
            report = _report(False, kind, message, cg, started)
        finally:
            if provider is not None:
                await provider.aclose()
        await self._guard.record(
            principal,
            "settings.test_provider",
            target=f"provider:{cg.provider}",
            outcome="ok" if report.ok else "error",
            result=report.kind,
            model=cg.model,
        )
        return report


def _report(
    ok: bool, kind: str, message: str, cg: CodegenSettings, started: float
) -> ConnectionReport:
    return ConnectionReport(
        ok=ok,
        kind=kind,
        message=message,
        provider=str(cg.provider),
        model=str(cg.model),
        elapsed_s=time.monotonic() - started,
    )


def _key_kind(kind: str) -> str:
    return "local" if kind == "openai-compatible" else kind
