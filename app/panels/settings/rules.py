"""What the Settings dialog checks before it lets the operator save, and the change it sends.

Pure functions over the form's values (``{"section.key": value}``), so they are
tested without widgets. The engine checks everything again when it saves; these
rules only make the common mistakes visible next to the field at once.

>>> problems({"api.port": "80a", "api.host": "0.0.0.0"})["api.port"]
'enter a whole number from 0 to 65535'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chimera_engine.config_write import is_http_url
from chimera_engine.errors import ConfigError
from chimera_engine.swarm.settings import parse_initial_agents

#: Provider kinds as the dialog offers them (value, label).
PROVIDERS = (
    ("openai", "OpenAI"),
    ("anthropic", "Anthropic"),
    ("ollama", "Ollama"),
    ("openai-compatible", "OpenAI-compatible server (llama.cpp, vLLM, LM Studio)"),
    ("replay", "Scripted demo answers (no live model)"),
)
#: Where a provider keeps its key (the secret store's name for it); None: no key.
KEY_KIND = {"openai": "openai", "anthropic": "anthropic", "ollama": "ollama"}
KEY_KIND["openai-compatible"] = "local"
DEFAULT_MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-5-5"}
DEFAULT_BASE_URL = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "ollama": "http://127.0.0.1:11434",
    "openai-compatible": "http://127.0.0.1:8080",
}
BACKENDS = (("local", "Local processes"), ("dask", "Dask cluster"))
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$|^[\w.-]+:\d{1,5}$")

Rule = Callable[[Mapping[str, Any]], str]


def _text(values: Mapping[str, Any], key: str) -> str:
    return str(values.get(key, "") or "").strip()


def _absolute_dir(required: bool) -> Callable[[Mapping[str, Any], str], str]:
    def check(values: Mapping[str, Any], key: str) -> str:
        text = _text(values, key)
        if not text:
            return "enter a folder" if required else ""
        path = Path(text).expanduser()
        if not path.is_absolute():
            return "enter an absolute path (starting with / or ~)"
        if path.exists() and not path.is_dir():
            return "this is a file, not a folder"
        return ""

    return check


def _base_url(values: Mapping[str, Any], key: str) -> str:
    text = _text(values, key)
    if text and not is_http_url(text):
        return "enter a URL starting with http:// or https://, e.g. http://127.0.0.1:11434"
    return ""


def _model(values: Mapping[str, Any], key: str) -> str:
    kind = _text(values, "codegen.provider")
    if kind in ("ollama", "openai-compatible") and not _text(values, key):
        return f"the {dict(PROVIDERS)[kind].split(' (')[0]} provider needs a model name"
    return ""


def _env_name(values: Mapping[str, Any], key: str) -> str:
    text = _text(values, key)
    if text and not _ENV_NAME.match(text):
        return "enter an environment variable name (letters, digits and _)"
    return ""


def _transcript(values: Mapping[str, Any], key: str) -> str:
    text = _text(values, key)
    if _text(values, "codegen.provider") == "replay" and text:
        path = Path(text).expanduser()
        if not path.is_file():
            return "no such file"
    return ""


def _scheduler(values: Mapping[str, Any], key: str) -> str:
    text = _text(values, key)
    if _text(values, "swarm.backend") == "dask" and not text:
        return "the Dask backend needs the scheduler's address, e.g. tcp://10.0.0.5:8786"
    if text and not _ADDRESS.match(text):
        return "enter an address like tcp://host:8786"
    return ""


def _initial_agents(values: Mapping[str, Any], key: str) -> str:
    try:
        parse_initial_agents(_text(values, key))
    except ConfigError as exc:
        return str(exc).split(": ", 1)[-1]
    return ""


def _host(values: Mapping[str, Any], key: str) -> str:
    text = _text(values, key)
    if not text:
        return "enter an address to listen on, e.g. 127.0.0.1"
    if any(ch.isspace() for ch in text) or "/" in text:
        return "enter a host name or an IP address, without a scheme or path"
    return ""


def port_value(text: object) -> int | None:
    """The port typed, or None when it is not one.

    >>> port_value(" 8765 "), port_value("65536"), port_value("http")
    (8765, None, None)
    """
    raw = str(text).strip()
    if not raw.isdigit():
        return None
    port = int(raw)
    return port if port <= 65535 else None


def _port(values: Mapping[str, Any], key: str) -> str:
    return (
        ""
        if port_value(values.get(key, "")) is not None
        else ("enter a whole number from 0 to 65535")
    )


def _tls(values: Mapping[str, Any], key: str) -> str:
    text = _text(values, key)
    other = "api.tls_key" if key == "api.tls_cert" else "api.tls_cert"
    if text and not Path(text).expanduser().is_file():
        return "no such file"
    if not text and _text(values, other):
        return "TLS needs both the certificate and its private key"
    return ""


RULES: dict[str, Callable[[Mapping[str, Any], str], str]] = {
    "engine.data_dir": _absolute_dir(required=True),
    "engine.workspace": _absolute_dir(required=False),
    "codegen.base_url": _base_url,
    "codegen.model": _model,
    "codegen.api_key_env": _env_name,
    "codegen.transcript": _transcript,
    "swarm.scheduler_address": _scheduler,
    "swarm.initial_agents": _initial_agents,
    "api.host": _host,
    "api.port": _port,
    "api.tls_cert": _tls,
    "api.tls_key": _tls,
}


def problems(values: Mapping[str, Any]) -> dict[str, str]:
    """``{"section.key": what is wrong}`` for each field that has a problem."""
    found = {}
    for key, rule in RULES.items():
        if key in values:
            message = rule(values, key)
            if message:
                found[key] = message
    return found


def typed(key: str, value: Any) -> Any:
    """A form value in the type the engine's setting has (text fields hold numbers too)."""
    if key == "api.port":
        return port_value(value)
    if isinstance(value, str):
        return value.strip()
    return value


def changed(original: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{section: {key: value}}`` for the fields whose value differs from ``original``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        new = typed(key, value)
        old = original.get(key)
        if isinstance(new, float) and isinstance(old, (int, float)):
            same = abs(new - old) <= 1e-9 * max(1.0, abs(old))
        else:
            same = new == old
        if not same:
            section, _, name = key.partition(".")
            out.setdefault(section, {})[name] = new
    return out


def field_of(message: str) -> tuple[str, str]:
    """Split an engine message ``"settings: api.port: must be ..."`` into ``(key, text)``;
    ``("", message)`` when it names no field.

    >>> field_of("settings: api.port: must be a TCP port (0-65535), got 70000")
    ('api.port', 'must be a TCP port (0-65535), got 70000')
    """
    match = re.search(r"\b([a-z]+\.[a-z_]+): (.+)$", message)
    if match is None:
        return "", message
    return match.group(1), match.group(2)
