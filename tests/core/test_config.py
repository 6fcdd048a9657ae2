"""Settings: precedence and one clear error line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from chimera_engine.config import load_settings
from chimera_engine.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_file() -> None:
    settings = load_settings(env={}, use_default_file=False)
    assert settings.security.access_token_ttl == 900
    assert settings.api.host == "127.0.0.1"
    assert settings.database_path.name == "chimera.sqlite3"


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path, '[engine]\ndata_dir = "/from/file"\n[security]\nlockout_threshold = 7\n'
    )
    from_file = load_settings(config_path=path, env={})
    assert from_file.data_dir == Path("/from/file")
    assert from_file.security.lockout_threshold == 7
    assert from_file.source == path
    from_env = load_settings(
        config_path=path,
        env={"CHIMERA_DATA_DIR": "/from/env", "CHIMERA_SECURITY__LOCKOUT_THRESHOLD": "9"},
    )
    assert from_env.data_dir == Path("/from/env")
    assert from_env.security.lockout_threshold == 9
    from_flag = load_settings(
        config_path=path, env={"CHIMERA_DATA_DIR": "/from/env"}, data_dir=Path("/from/flag")
    )
    assert from_flag.data_dir == Path("/from/flag")


def test_config_env_variable_names_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[api]\nport = 9000\n")
    assert load_settings(env={"CHIMERA_CONFIG": str(path)}).api.port == 9000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[security]\nlockout_threshold = 'x'\n",
            "security.lockout_threshold: expected an integer, got 'x'",
        ),
        ("[security]\nbogus = 1\n", "security.bogus: unknown setting"),
        ("[nonsense]\na = 1\n", "unknown section [nonsense]"),
        ("[api]\nport = 70000\n", "api.port: must be a TCP port"),
        ("[audit]\nring_size = 0\n", "audit.ring_size: must be at least 1"),
        ("[engine]\nloop_lag_interval = -1\n", "engine.loop_lag_interval: must not be negative"),
        ("[engine\n", "not valid TOML"),
        ("engine = 3\n", "[engine] must be a table"),
    ],
)
def test_invalid_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(config_path=path, env={})
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_env_names_variable() -> None:
    with pytest.raises(
        ConfigError, match=r"environment CHIMERA_API__PORT: api\.port: expected an integer"
    ):
        load_settings(env={"CHIMERA_API__PORT": "eighty"}, use_default_file=False)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_path=tmp_path / "absent.toml", env={})
