from pathlib import Path

import pytest

from corekit.errors import ConfigurationError
from projectx import ProjectX, ProjectXSettings, SettingsError


def test_from_env_reads_one_prefix_and_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECTX_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("PROJECTX_USERNAME", "trader")
    monkeypatch.setenv("PROJECTX_API_KEY", "secret-key")
    monkeypatch.setenv("PROJECTX_ACCOUNT", "PRAC-1")
    monkeypatch.setenv("PROJECTX_USER_HUB_URL", "http://127.0.0.1:9/hubs/user")
    monkeypatch.setenv("PROJECTX_SOMETHING_ELSE", "ignored")
    settings = ProjectXSettings.from_env(timezone="America/Chicago")
    assert settings.api_url == "http://127.0.0.1:9/api"
    assert settings.account == "PRAC-1"
    assert settings.user_hub_url == "http://127.0.0.1:9/hubs/user"
    assert settings.timezone == "America/Chicago"
    assert "secret-key" not in repr(settings)
    assert settings.api_key.get_secret_value() == "secret-key"


def test_env_file_is_read_only_when_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("USERNAME", "API_KEY"):
        monkeypatch.delenv(f"PROJECTX_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PROJECTX_USERNAME=u\nPROJECTX_API_KEY=k\n")
    with pytest.raises(ConfigurationError, match="PROJECTX_USERNAME"):
        ProjectX.from_env()
    settings = ProjectXSettings.from_env(tmp_path / ".env")
    assert settings.username == "u"


@pytest.mark.parametrize(
    ("field", "value"),
    [("api_url", "ftp://x"), ("timezone", "Mars/Olympus"), ("bars_limit", 0)],
)
def test_invalid_settings_name_the_variable(field: str, value: object) -> None:
    with pytest.raises(SettingsError, match=f"PROJECTX_{field.upper()}") as caught:
        ProjectX.from_env(username="u", api_key="k", **{field: value})
    assert isinstance(caught.value, ConfigurationError)


def test_the_client_wants_settings() -> None:
    with pytest.raises(ConfigurationError, match="ProjectXSettings"):
        ProjectX({"username": "u"})  # type: ignore[arg-type]
