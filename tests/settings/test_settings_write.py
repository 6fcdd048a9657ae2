"""Writing settings back: validation with the loader's rules, and a TOML file edited in
place (comments kept) that reads back to exactly the values written."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chimera_engine.config import load_settings
from chimera_engine.config_write import (
    apply_changes,
    file_values,
    render,
    update_toml_text,
    write_config,
)
from chimera_engine.errors import ConfigError

COMMENTED = """\
# CHIMERA settings (kept by hand)
[engine]
data_dir = "/srv/chimera"   # backed up nightly

[codegen]
provider = "openai"  # switched in March
model = 'gpt-4o-mini'
max_cost_usd = 1.5

[api]
# only on loopback
host = "127.0.0.1"
port = 8765
"""


def test_in_place_edit_keeps_comments_and_order(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    path.chmod(0o640)
    write_config(
        path,
        {
            "codegen": {"model": "gpt-4.1", "max_cost_usd": 2.0, "auto_approve": True},
            "api": {"port": 9000, "host": None},
            "swarm": {"backend": "dask", "scheduler_address": "tcp://10.0.0.5:8786"},
        },
    )
    text = path.read_text()
    assert text.startswith("# CHIMERA settings (kept by hand)\n[engine]\n")
    assert 'data_dir = "/srv/chimera"   # backed up nightly' in text
    assert 'provider = "openai"  # switched in March' in text
    assert 'model = "gpt-4.1"\nmax_cost_usd = 2.0\nauto_approve = true\n' in text
    assert "# only on loopback\nport = 9000\n" in text and "host" not in text
    assert text.endswith('[swarm]\nbackend = "dask"\nscheduler_address = "tcp://10.0.0.5:8786"\n')
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary left
    settings = load_settings(config_path=path, env={})
    assert (settings.codegen.model, settings.api.port, settings.api.host) == (
        "gpt-4.1",
        9000,
        "127.0.0.1",
    )
    assert settings.swarm.backend == "dask"


def test_a_new_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    write_config(
        path, {"engine": {"workspace": "/work/tools"}, "metrics": {"latency_threshold_ms": 250.0}}
    )
    assert tomllib.loads(path.read_text()) == {
        "engine": {"workspace": "/work/tools"},
        "metrics": {"latency_threshold_ms": 250.0},
    }


def test_layouts_the_line_editor_cannot_express_fall_back_to_a_plain_rewrite() -> None:
    text = 'codegen.model = "x"\n[api]\nport = 1\n'  # a dotted key outside its table
    new = render(text, {"codegen": {"model": "y"}})
    assert tomllib.loads(new) == {"codegen": {"model": "y"}, "api": {"port": 1}}
    with pytest.raises(ConfigError, match="not valid TOML"):
        render("[api\nport = 1", {"api": {"port": 2}})


scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
)


@given(values=st.dictionaries(st.sampled_from(["a", "b", "c_d", "e-f"]), scalars, min_size=1))
def test_any_scalar_round_trips(values: dict[str, object]) -> None:
    text = render("[s]\na = 1  # keep me\n", {"s": values})
    assert tomllib.loads(text) == {"s": {"a": 1, **values}}
    if "a" in values:
        assert "# keep me" in update_toml_text("[s]\na = 1  # keep me\n", {"s": values})


def test_changes_are_validated_with_the_loader_rules(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, env={}, use_default_file=False)
    cases = {
        "api.port: must be a TCP port": {"api": {"port": 70000}},
        "api.port: expected an integer": {"api": {"port": "80"}},
        "unknown setting": {"api": {"colour": "red"}},
        "unknown section": {"look": {"theme": "dark"}},
        "swarm.scheduler_address: required": {"swarm": {"backend": "dask"}},
        "codegen.model: the ollama provider needs a model": {"codegen": {"provider": "ollama"}},
        "codegen.base_url: expected an http": {"codegen": {"base_url": "localhost:8080"}},
        "codegen.provider: expected one of": {"codegen": {"provider": "gpt"}},
        "api.tls_key: TLS needs both": {"api": {"tls_cert": "/etc/cert.pem"}},
        "must not be negative": {"metrics": {"latency_threshold_ms": -1.0}},
    }
    for message, change in cases.items():
        with pytest.raises(ConfigError, match=message):
            apply_changes(settings, change)
    updated = apply_changes(
        settings,
        {
            "engine": {"workspace": str(tmp_path / "ws")},
            "codegen": {
                "provider": "openai-compatible",
                "model": "qwen",
                "base_url": "http://127.0.0.1:8080/v1",
            },
        },
    )
    assert updated.engine.workspace == tmp_path / "ws" and updated.codegen.model == "qwen"
    cleared = apply_changes(updated, {"engine": {"workspace": ""}})
    assert cleared.engine.workspace is None
    assert file_values(cleared, {"engine": {"workspace": ""}}) == {"engine": {"workspace": None}}
    assert file_values(updated, {"engine": {"workspace": "x"}}) == {
        "engine": {"workspace": str(tmp_path / "ws")}
    }
