"""Changing settings: validate a change against the same rules the loader uses, and
write it back into the TOML file, keeping the operator's comments and layout.

A change is ``{section: {key: value}}``; a value of ``None`` (or ``""`` for an
optional path such as ``engine.workspace``) removes the key from the file, so
the default applies again. Only the simple layout the settings use is edited in
place (``[section]`` tables of ``key = scalar`` lines); anything the in-place
edit cannot express faithfully is detected by re-reading the result, and the
file is then rewritten in a plain layout instead (comments are lost only then).

>>> text = '# mine\\n[api]\\nport = 8765  # the HTTP API\\n'
>>> print(update_toml_text(text, {"api": {"port": 9000, "host": "0.0.0.0"}}), end="")
# mine
[api]
port = 9000  # the HTTP API
host = "0.0.0.0"
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chimera_engine.config import _SECTIONS, Settings, _apply, _field_types
from chimera_engine.errors import ConfigError

Changes = Mapping[str, Mapping[str, Any]]

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
_KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_-]+)(\s*=\s*)(.*)$")


# -- validation -------------------------------------------------------------------------------
def apply_changes(settings: Settings, changes: Changes, *, source: str = "settings") -> Settings:
    """``settings`` with ``changes`` applied, checked as the loader checks a file.

    Raises :class:`ConfigError` with ``section.key: what is wrong`` for the first
    problem, so the console can put the message next to the field.
    """
    raw: dict[str, dict[str, Any]] = {}
    cleared: dict[str, list[str]] = {}
    for section, values in changes.items():
        cls = _SECTIONS.get(section)
        if cls is None:
            raise ConfigError(f"{source}: unknown section [{section}]")
        types_ = _field_types(cls)
        kept: dict[str, Any] = {}
        for key, value in values.items():
            if key in types_ and _clears(types_[key], value):
                cleared.setdefault(section, []).append(key)
            else:
                kept[key] = value
        _apply(raw, {section: kept}, source, from_text=False)
    replaced: dict[str, Any] = {}
    for name in set(raw) | set(cleared):
        current = getattr(settings, name)
        defaults = type(current)()
        values = dict(raw.get(name, {}))
        for key in cleared.get(name, []):
            values[key] = getattr(defaults, key)
        replaced[name] = dataclasses.replace(current, **values)
    result = dataclasses.replace(settings, **replaced)
    check_settings(result)
    return result


def _clears(hint: Any, value: Any) -> bool:
    """Whether ``value`` means "remove the key" for a field of type ``hint``."""
    return value is None or (value == "" and "None" in str(hint))


def check_settings(settings: Settings) -> None:
    """The cross-field rules a single key cannot express; ConfigError names the key."""
    settings.swarm.validate()
    from chimera_engine.patches.providers.factory import ALIASES, KINDS

    cg = settings.codegen
    kind = ALIASES.get(cg.provider, cg.provider)
    if kind not in KINDS:
        choices = ", ".join((*KINDS, *ALIASES))
        raise ConfigError(f"codegen.provider: expected one of {choices}, got {cg.provider!r}")
    if cg.base_url and not is_http_url(cg.base_url):
        raise ConfigError("codegen.base_url: expected an http:// or https:// URL")
    if kind in ("ollama", "local") and not cg.model.strip():
        raise ConfigError(f"codegen.model: the {cg.provider} provider needs a model name")
    if cg.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", cg.api_key_env):
        raise ConfigError("codegen.api_key_env: expected an environment variable name")
    api = settings.api
    if bool(api.tls_cert) != bool(api.tls_key):
        missing = "tls_key" if api.tls_cert else "tls_cert"
        raise ConfigError(f"api.{missing}: TLS needs both a certificate and its key")
    if not api.host.strip():
        raise ConfigError("api.host: expected an address to listen on")


def is_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host.

    >>> is_http_url("http://127.0.0.1:11434"), is_http_url("localhost:8080")
    (True, False)
    """
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018  # raises ValueError for a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# -- TOML text --------------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    """A scalar as TOML.

    >>> [toml_value(v) for v in (True, 3, 0.5, float("inf"), 'a "b"\\n')]
    ['true', '3', '0.5', 'inf', '"a \\\\"b\\\\"\\\\n"']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # "inf", "-inf", "0.5", "1e-05": all valid TOML floats
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    raise TypeError(f"cannot write {type(value).__name__} to the settings file")


def _value_end(rest: str) -> int | None:
    """Where the one-line scalar at the start of ``rest`` ends (None: not one line)."""
    if rest.startswith(('"""', "'''")):
        return None
    if rest.startswith('"'):
        i = 1
        while i < len(rest):
            if rest[i] == "\\":
                i += 2
                continue
            if rest[i] == '"':
                return i + 1
            i += 1
        return None
    if rest.startswith("'"):
        close = rest.find("'", 1)
        return None if close < 0 else close + 1
    if rest.startswith(("[", "{")):
        return None
    match = re.match(r"[^\s#]*", rest)
    return match.end() if match else None


def update_toml_text(text: str, changes: Changes) -> str:
    """``text`` with ``changes`` made in place (comments and order kept); may return a
    text that does not parse back to the intended values: :func:`render` checks."""
    lines = text.splitlines()
    pending = {s: dict(v) for s, v in changes.items()}
    out: list[str] = []
    section = ""
    # last line index of each section's body in ``out`` (where new keys go)
    ends: dict[str, int] = {}

    for line in lines:
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("[["):
            section = header.group(1)
            out.append(line)
            ends[section] = len(out)
            continue
        key_line = _KEY_LINE.match(line)
        if key_line and key_line.group(2) in pending.get(section, {}):
            indent, key, eq, rest = key_line.groups()
            value = pending[section].pop(key)
            if value is None:
                continue  # removed: the default applies
            end = _value_end(rest)
            tail = rest[end:] if end is not None else ""
            out.append(f"{indent}{key}{eq}{toml_value(value)}{tail}")
        else:
            out.append(line)
        if line.strip() and not line.lstrip().startswith("#"):
            ends[section] = len(out)

    inserts: dict[int, list[str]] = {}
    trailer: list[str] = []
    for name, values in pending.items():
        fresh = [f"{k} = {toml_value(v)}" for k, v in values.items() if v is not None]
        if not fresh:
            continue
        if name in ends:
            inserts.setdefault(ends[name], []).extend(fresh)
        else:
            trailer.extend(["", f"[{name}]", *fresh] if out or trailer else [f"[{name}]", *fresh])
    result: list[str] = []
    for i, line in enumerate(out):
        result.append(line)
        result.extend(inserts.get(i + 1, []))
    result.extend(trailer)
    return "\n".join(result) + "\n"


def render_plain(data: Mapping[str, Mapping[str, Any]]) -> str:
    """The settings as a plain TOML file: one table per section, keys sorted."""
    chunks = []
    for section in sorted(data):
        body = [f"{k} = {toml_value(v)}" for k, v in sorted(data[section].items())]
        chunks.append("\n".join([f"[{section}]", *body]))
    return "\n\n".join(chunks) + "\n" if chunks else ""


def render(text: str, changes: Changes) -> str:
    """The new file content for ``changes``: edited in place when that is faithful,
    else re-rendered plainly. ConfigError if ``text`` is not TOML."""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the settings file is not valid TOML: {exc}") from None
    target: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in before.items()}
    for section, values in changes.items():
        table = target.setdefault(section, {})
        for key, value in values.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = str(value) if isinstance(value, Path) else value
    edited = update_toml_text(text, changes)
    try:
        if tomllib.loads(edited) == target:
            return edited
    except tomllib.TOMLDecodeError:
        pass
    if all(isinstance(v, dict) for v in target.values()):
        return render_plain(target)
    raise ConfigError("the settings file has a layout the console cannot rewrite; edit it by hand")


def write_config(path: Path, changes: Changes) -> None:
    """Apply ``changes`` to the TOML file at ``path`` atomically (created if missing).

    Blocking file I/O: call it from a worker thread.
    """
    try:
        text = path.read_text(encoding="utf-8")
        mode: int | None = path.stat().st_mode & 0o777
    except FileNotFoundError:
        text, mode = "", None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    new = render(text, changes)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be written: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode if mode is not None else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot be written: {exc.strerror}") from None


def file_values(updated: Settings, changes: Changes) -> dict[str, dict[str, Any]]:
    """``changes`` in the shape written to the file, read back from ``updated`` (the
    result of :func:`apply_changes`): converted values, paths as text, and ``None``
    for keys to remove (their default applies)."""
    out: dict[str, dict[str, Any]] = {}
    for section, values in changes.items():
        types_ = _field_types(_SECTIONS[section])
        current = getattr(updated, section)
        for key in values:
            if key not in types_:
                raise ConfigError(f"settings: {section}.{key}: unknown setting")
            value = values[key]
            if _clears(types_[key], value):
                out.setdefault(section, {})[key] = None
                continue
            value = getattr(current, key)
            out.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    return out
