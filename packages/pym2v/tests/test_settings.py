"""Settings: the EUROGARD_ environment, explicit dotenv files, validation (part 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pym2v import AsyncEurogardAPI, EurogardAPI, Settings
from pym2v.errors import M2VConfigurationError

REQUIRED = {
    "EUROGARD_BASE_URL": "https://eurogard.example/",
    "EUROGARD_USERNAME": "ada",
    "EUROGARD_PASSWORD": "pa55-w0rd-ada",
    "EUROGARD_CLIENT_ID": "backend",
    "EUROGARD_CLIENT_SECRET": "s3cret-backend-42",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in [*REQUIRED, "EUROGARD_TIMEOUT", "EUROGARD_MAX_CONCURRENT_REQUESTS"]:
        monkeypatch.delenv(name, raising=False)
    # A .env in the working directory must never be read implicitly.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("EUROGARD_BASE_URL=https://wrong.example\n")
    return monkeypatch


def test_settings_come_from_the_prefixed_environment(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        clean_env.setenv(name, value)
    clean_env.setenv("EUROGARD_TIMEOUT", "12.5")
    clean_env.setenv("eurogard_max_concurrent_requests", "7")
    clean_env.setenv("EUROGARD_SOMETHING_ELSE", "ignored")
    settings = Settings.from_env()
    assert settings.base_url == "https://eurogard.example"
    assert settings.token_url == (
        "https://eurogard.example/auth/realms/iiot-platform/protocol/openid-connect/token"
    )
    assert settings.timeout == 12.5
    assert settings.max_concurrent_requests == 7
    assert settings.password.get_secret_value() == "pa55-w0rd-ada"
    assert "pa55" not in repr(settings)
    assert "s3cret" not in str(settings)


def test_from_env_reads_a_named_dotenv_file_with_unrelated_keys(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = tmp_path / "m2v.env"
    lines = [f"{k}={v}" for k, v in REQUIRED.items()] + ["FOO=1", "DATABASE_URL=postgres://x"]
    env.write_text("\n".join(lines) + "\n")
    clean_env.setenv("EUROGARD_USERNAME", "grace")  # the environment wins over the file
    api = EurogardAPI.from_env(env_file=env, timeout=3)
    try:
        assert api.settings.username == "grace"
        assert api.settings.base_url == "https://eurogard.example"
        assert api.settings.timeout == 3
    finally:
        api.close()


def test_missing_settings_name_the_environment_variables(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(M2VConfigurationError) as caught:
        EurogardAPI()
    message = str(caught.value)
    assert "EUROGARD_BASE_URL" in message
    assert "EUROGARD_PASSWORD" in message
    assert isinstance(caught.value, ValueError)


def test_missing_env_file_is_an_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(M2VConfigurationError, match="does not exist"):
        AsyncEurogardAPI.from_env(env_file=tmp_path / "nope.env")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_url", "eurogard.cloud", "absolute http"),
        ("base_url", "ftp://eurogard.cloud", "absolute http"),
        ("timeout", 0, "EUROGARD_TIMEOUT"),
        ("max_concurrent_requests", 0, "EUROGARD_MAX_CONCURRENT_REQUESTS"),
        ("retry_attempts", 0, "EUROGARD_RETRY_ATTEMPTS"),
    ],
)
def test_invalid_values_are_configuration_errors(
    clean_env: pytest.MonkeyPatch, field: str, value: object, message: str
) -> None:
    for name, env_value in REQUIRED.items():
        clean_env.setenv(name, env_value)
    with pytest.raises(M2VConfigurationError, match=message):
        Settings.from_env(**{field: value})


def test_constructor_arguments_are_checked() -> None:
    settings = Settings(
        base_url="http://127.0.0.1:1",
        username="u",
        password="p",
        client_id="c",
        client_secret="s",
    )
    with pytest.raises(M2VConfigurationError, match=r"pym2v\.Settings"):
        EurogardAPI({"base_url": "x"})
    with pytest.raises(M2VConfigurationError, match="max_concurrent_requests"):
        EurogardAPI(settings, 0)
    with EurogardAPI(settings, 9) as api:
        assert api.settings.max_concurrent_requests == 9
        assert settings.max_concurrent_requests == 5
