"""Station config: TOML, environment overrides, defaults, and errors that name key and file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pywats.station._config import (
    StationConfig,
    default_config_path,
    default_data_dir,
    load_config,
    save_config,
)
from pywats.station._errors import ConfigError

EXAMPLE = """
[server]
url = "https://acme.wats.com"
username = "station-7"
password_source = "encrypted"

[queue]
path = "data/queue.sqlite"
capacity = 500
retention_days = 3
max_attempts = 5
concurrency = 4

[health]
port = 0

[[converters]]
name = "csv"
watch = "in/csv"
settings = { delimiter = ";" }

[[converters]]
name = "wsjf"
enabled = false
watch = "/abs/wsjf"
done = "/abs/done"
error = "/abs/error"
patterns = ["*.json"]

[logging]
level = "debug"
format = "json"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_file_values_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), environ={})
    assert config.server.url == "https://acme.wats.com"
    assert config.server.password_source == "encrypted"
    assert config.queue.capacity == 500
    assert config.queue_path == tmp_path / "data" / "queue.sqlite"
    assert config.data_dir == tmp_path / "data"
    assert config.credentials_dir == tmp_path
    assert config.health.port == 0
    assert config.logging.level == "DEBUG"
    assert config.logging.format == "json"
    csv, wsjf = config.converters
    assert csv.watch == tmp_path / "in" / "csv"
    assert csv.done_dir == tmp_path / "in" / "csv.done"
    assert csv.error_dir == tmp_path / "in" / "csv.error"
    assert csv.settings == {"delimiter": ";"}
    assert not wsjf.enabled
    assert wsjf.done_dir == Path("/abs/done")
    assert wsjf.error_dir == Path("/abs/error")
    assert wsjf.patterns == ("*.json",)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    environ = {
        "PYWATS_STATION_SERVER__URL": "http://other:8088",
        "PYWATS_STATION_QUEUE__CAPACITY": "42",
        "PYWATS_STATION_HEALTH__ENABLED": "false",
        "PYWATS_STATION_LOGGING__FORMAT": "text",
        "PYWATS_STATION_CONVERTERS__NAME": "ignored",  # lists are not overridable
        "PYWATS_STATION_CONFIG": "not-a-section",
        "OTHER": "x",
    }
    config = load_config(write(tmp_path, EXAMPLE), environ=environ)
    assert config.server.url == "http://other:8088"
    assert config.server.username == "station-7"
    assert config.queue.capacity == 42
    assert config.health.enabled is False
    assert config.logging.format == "text"
    assert len(config.converters) == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no station config at .*--config"):
        load_config(tmp_path / "nope.toml", environ={})
    config = load_config(tmp_path / "nope.toml", environ={}, missing_ok=True)
    assert config.converters == ()
    assert config.health.port == 8089


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nurl=1")
    with pytest.raises(ConfigError, match=r"station.toml is not valid TOML"):
        load_config(path, environ={})


def test_wrong_value_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[queue]\ncapacity = 0\n")
    with pytest.raises(ConfigError, match=r"station.toml: queue.capacity: .*greater than or equal"):
        load_config(path, environ={})


def test_wrong_env_value_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"health.port"):
        load_config(path, environ={"PYWATS_STATION_HEALTH__PORT": "eighty"})


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server.adress: Extra inputs"):
        load_config(write(tmp_path, '[server]\nadress = "x"\n'), environ={})


@pytest.mark.parametrize("key", ["password", "token"])
def test_password_in_file_is_refused(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, f'[server]\nurl = "u"\n{key} = "hunter2"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert "pywats station login" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_password_in_environment_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must not be in the config"):
        load_config(write(tmp_path, ""), environ={"PYWATS_STATION_SERVER__PASSWORD": "x"})


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the station config"):
        load_config(tmp_path, environ={})  # a directory


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), environ={})
    target = save_config(config, tmp_path / "copy" / "station.toml")
    again = load_config(target, environ={})
    assert again.model_dump() == config.model_dump()
    assert "password =" not in target.read_text()


def test_save_defaults_to_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    config = load_config(path, environ={})
    changed = config.model_copy(
        update={"logging": config.logging.model_copy(update={"level": "ERROR"})}
    )
    assert save_config(changed) == path
    assert load_config(path, environ={}).logging.level == "ERROR"


def test_default_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PYWATS_STATION_CONFIG", raising=False)
    assert default_config_path().name == "station.toml"
    assert "pywats" in default_config_path().parts
    assert default_data_dir().name == "station"
    monkeypatch.setenv("PYWATS_STATION_CONFIG", str(tmp_path / "mine.toml"))
    assert default_config_path() == tmp_path / "mine.toml"
    monkeypatch.setenv("PYWATS_STATION_QUEUE__CAPACITY", "7")
    write(tmp_path, "")
    (tmp_path / "mine.toml").write_text("")
    assert load_config().queue.capacity == 7


def test_defaults_without_a_file() -> None:
    config = StationConfig()
    assert config.queue_path == default_data_dir() / "queue.sqlite"
    assert config.data_dir == default_data_dir()
    assert config.credentials_dir == default_data_dir()
    assert os.fspath(config.queue_path).endswith("queue.sqlite")
