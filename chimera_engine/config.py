"""Settings: defaults, then a TOML file, then ``CHIMERA_*`` environment variables, then flags.

The file lives at ``<user config dir>/chimera/config.toml`` unless ``--config`` or
``CHIMERA_CONFIG`` names another. Environment overrides use
``CHIMERA_<SECTION>__<KEY>`` (e.g. ``CHIMERA_SECURITY__ACCESS_TOKEN_TTL=600``);
``CHIMERA_DATA_DIR`` is a shorthand for ``engine.data_dir``.

Every problem raises :class:`ConfigError` with one line naming the source and key:

>>> from chimera_engine.config import load_settings
>>> load_settings(env={"CHIMERA_SECURITY__LOCKOUT_THRESHOLD": "many"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chimera_engine.errors.ConfigError: environment CHIMERA_SECURITY__LOCKOUT_THRESHOLD: ...
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from chimera_engine.demo.settings import DemoSettings
from chimera_engine.errors import ConfigError
from chimera_engine.heal.settings import HealSettings
from chimera_engine.swarm.settings import SwarmSettings

APP_NAME = "chimera"


def default_data_dir() -> Path:
    """Where the database, secrets and logs live unless configured otherwise."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_path() -> Path:
    """The TOML file read when neither ``--config`` nor ``CHIMERA_CONFIG`` is given."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    workspace: Path | None = None
    loop_lag_interval: float = 0.1
    shutdown_timeout: float = 10.0


@dataclass(frozen=True, kw_only=True)
class SecuritySettings:
    access_token_ttl: int = 900
    refresh_token_ttl: int = 7 * 24 * 3600
    issuer: str = "chimera"
    audience: str = "chimera"
    lockout_threshold: int = 5
    lockout_base_seconds: float = 30.0
    lockout_max_seconds: float = 900.0
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1


@dataclass(frozen=True, kw_only=True)
class AuditSettings:
    ring_size: int = 10_000
    # append-only JSON-lines copy of every entry (seq, hash, ...) for shipping elsewhere;
    # ``chimera audit verify --against FILE`` checks the database against such a copy
    export_path: str = ""


@dataclass(frozen=True, kw_only=True)
class RateLimitSettings:
    """Requests per minute per client (user, API key or IP) for each route class."""

    read_per_minute: int = 1200
    write_per_minute: int = 300
    llm_per_minute: int = 30
    login_per_minute: int = 10
    burst_fraction: float = 0.25
    max_clients: int = 50_000


@dataclass(frozen=True, kw_only=True)
class ToolSettings:
    call_timeout: float = 30.0
    import_timeout: float = 5.0
    watch: bool = True
    debounce: float = 0.05
    #: a module never seen before waits this long (seconds) before its first load
    new_settle: float = 1.0
    #: a version replaced sooner than this (seconds live) is never a rollback target
    trust_after: float = 1.0
    threads: int = 8


@dataclass(frozen=True, kw_only=True)
class CodegenSettings:
    """The LLM provider and the patch policy.

    ``provider`` is ``replay`` (answers from ``transcript``; the default, needs no
    key), ``openai``, ``anthropic``, ``ollama`` or ``local`` (any OpenAI-compatible
    server at ``base_url``: llama.cpp, vLLM, LM Studio). Keys
    come from the environment variable ``api_key_env`` or the OS keyring.
    """

    provider: str = "replay"
    model: str = ""
    base_url: str = ""
    api_key_env: str = ""
    transcript: str = ""
    max_attempts: int = 3
    max_cost_usd: float = 1.0
    max_tokens: int = 4000
    #: The model's context window in tokens when the server does not say (0: unknown).
    context_tokens: int = 0
    request_timeout: float = 120.0
    auto_approve: bool = False
    auto_approve_max_lines: int = 20
    watch_seconds: float = 60.0
    watch_min_calls: int = 10
    sandbox_timeout: float = 60.0
    #: "strict": patch testing needs full kernel isolation (bubblewrap namespaces,
    #: Landlock) and refuses without it; "reduced": test with what the kernel
    #: offers, flag the result, never auto-approve it.
    sandbox: str = "strict"


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    """Collectors and alert thresholds. ``scrape_urls`` is a comma-separated list of
    Prometheus text endpoints to scrape every ``scrape_interval`` seconds. Series
    pushed or scraped are capped per principal (or scrape target) and in total, and
    leave the hub and ``/metrics`` after ``series_stale_seconds`` without a sample."""

    enabled: bool = True
    tool_interval: float = 1.0
    process_interval: float = 2.0
    forecast_interval: float = 5.0
    scrape_urls: str = ""
    scrape_interval: float = 15.0
    confidence_threshold: float = 0.8
    latency_threshold_ms: float = 1000.0
    series_per_principal: int = 10_000
    series_total: int = 20_000
    series_stale_seconds: float = 600.0


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8765
    tls_cert: str = ""
    tls_key: str = ""
    allow_plaintext: bool = False


@dataclass(frozen=True, kw_only=True)
class Settings:
    """All settings of one engine. Immutable; build a new one to change it."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    tools: ToolSettings = field(default_factory=ToolSettings)
    ratelimit: RateLimitSettings = field(default_factory=RateLimitSettings)
    codegen: CodegenSettings = field(default_factory=CodegenSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    swarm: SwarmSettings = field(default_factory=SwarmSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    heal: HealSettings = field(default_factory=HealSettings)
    source: Path | None = None
    #: The file changes made in the console are saved to (None: nowhere, e.g. in tests).
    config_path: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.engine.data_dir

    @property
    def database_path(self) -> Path:
        return self.engine.data_dir / "chimera.sqlite3"

    @property
    def workspace_path(self) -> Path:
        """The configured workspace, or the demo workspace copied into the data dir."""
        return self.engine.workspace or self.engine.data_dir / "workspace"

    @property
    def secret_path(self) -> Path:
        return self.engine.data_dir / "secret.key"


_SECTIONS: dict[str, type[Any]] = {
    "engine": EngineSettings,
    "security": SecuritySettings,
    "audit": AuditSettings,
    "tools": ToolSettings,
    "ratelimit": RateLimitSettings,
    "codegen": CodegenSettings,
    "metrics": MetricsSettings,
    "api": ApiSettings,
    "swarm": SwarmSettings,
    "demo": DemoSettings,
    "heal": HealSettings,
}

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _field_types(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _convert(value: Any, hint: Any, *, from_text: bool) -> Any:
    """Convert ``value`` to ``hint`` or raise ValueError with what was expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (from_text and value == ""):
            return None
        return _convert(value, args[0], from_text=from_text)
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ValueError("expected a path")
        return Path(value).expanduser()
    if hint is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if from_text and isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected {_TYPE_NAMES[bool]}, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"expected {_TYPE_NAMES[int]}, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"expected {_TYPE_NAMES[float]}, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"expected {_TYPE_NAMES[str]}, got {value!r}")
    raise ValueError(f"unsupported setting type {hint!r}")  # pragma: no cover


def _check_ranges(section: str, key: str, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    if section == "api" and key == "port" and not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port (0-65535), got {value!r}")
    if section == "audit" and key == "ring_size" and value < 1:
        raise ValueError("must be at least 1")


def _apply(
    raw: dict[str, dict[str, Any]],
    overrides: Mapping[str, Mapping[str, Any]],
    source: str,
    *,
    from_text: bool,
) -> None:
    for section, values in overrides.items():
        cls = _SECTIONS.get(section)
        if cls is None:
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table")
        types_ = _field_types(cls)
        for key, value in values.items():
            if key not in types_:
                raise ConfigError(f"{source}: {section}.{key}: unknown setting")
            try:
                converted = _convert(value, types_[key], from_text=from_text)
                _check_ranges(section, key, converted)
            except ValueError as exc:
                raise ConfigError(f"{source}: {section}.{key}: {exc}") from None
            raw.setdefault(section, {})[key] = converted


def load_settings(
    *,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    workspace: Path | None = None,
    env: Mapping[str, str] | None = None,
    use_default_file: bool = True,
) -> Settings:
    """Build the settings; precedence is flags > environment > file > defaults."""
    env = os.environ if env is None else env
    raw: dict[str, dict[str, Any]] = {}

    path = config_path
    if path is None and env.get("CHIMERA_CONFIG"):
        path = Path(env["CHIMERA_CONFIG"]).expanduser()
    explicit = path is not None
    if path is None and use_default_file:
        path = default_config_path()
    if path is not None:
        if path.exists():
            try:
                with path.open("rb") as fh:
                    content = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML: {exc}") from None
            except OSError as exc:
                raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
            _apply(raw, content, str(path), from_text=False)
        elif explicit:
            raise ConfigError(f"{path}: config file does not exist")

    env_overrides: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if name == "CHIMERA_DATA_DIR":
            env_overrides.setdefault("engine", {})["data_dir"] = value
        elif name.startswith("CHIMERA_") and "__" in name:
            section, _, key = name[len("CHIMERA_") :].partition("__")
            env_overrides.setdefault(section.lower(), {})[key.lower()] = value
    for section, values in env_overrides.items():
        for key, value in values.items():
            var = "CHIMERA_DATA_DIR" if (section, key) == ("engine", "data_dir") else None
            var = var or f"CHIMERA_{section.upper()}__{key.upper()}"
            _apply(raw, {section: {key: value}}, f"environment {var}", from_text=True)

    if data_dir is not None:
        raw.setdefault("engine", {})["data_dir"] = data_dir.expanduser()
    if workspace is not None:
        raw.setdefault("engine", {})["workspace"] = workspace.expanduser()

    sections = {name: cls(**raw.get(name, {})) for name, cls in _SECTIONS.items()}
    sections["swarm"].validate()
    return Settings(
        **sections,
        source=path if path is not None and path.exists() else None,
        config_path=path,
    )
