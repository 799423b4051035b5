"""Client construction: base URL, credentials, station identity, settings."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from corekit.testing import FaultInjector
from pywats import WATS, AsyncWATS, Station, WATSConfigurationError, WATSSettings
from pywats._transport import basic_token, normalize_base_url

pytestmark = pytest.mark.anyio

USER, PASSWORD = "operator", "s3cret"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h", "http://h"),
        ("http://h/", "http://h"),
        ("http://h/api", "http://h"),
        ("  https://h:8443/API/  ", "https://h:8443"),
        ("https://h/wats/api/", "https://h/wats"),
        ("https://h/api/api", "https://h"),
    ],
)
def test_base_url_is_normalised(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize("bad", ["", "host:8080", "ftp://h", "http://", "/api"])
def test_base_url_must_be_http(bad: str) -> None:
    with pytest.raises(WATSConfigurationError, match="PYWATS_BASE_URL"):
        normalize_base_url(bad)


def test_basic_token_forms() -> None:
    pair = base64.b64encode(b"u:p").decode()
    assert basic_token("u", "p") == pair
    assert basic_token("u", SecretStr("p")) == pair
    assert basic_token("u", token="p") == pair
    assert basic_token(token=SecretStr(f" {pair} ")) == pair
    with pytest.raises(WATSConfigurationError, match="needs a password"):
        basic_token("u")
    with pytest.raises(WATSConfigurationError, match="needs username"):
        basic_token(password="p")
    with pytest.raises(WATSConfigurationError, match="no WATS credentials"):
        basic_token()


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    "credentials",
    [
        {"username": USER, "password": PASSWORD},
        {"username": USER, "token": PASSWORD},
        {"token": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
    ],
    ids=["password", "api-token", "pre-encoded"],
)
async def test_every_credential_form_authenticates(
    kind: str, credentials: dict[str, str], base_url: str, resolve: Any, emulator: FaultInjector
) -> None:
    cls = WATS if kind == "sync" else AsyncWATS
    client = cls(f"{base_url}/api/", trust_env=False, **credentials)
    try:
        assert await resolve(client.app.version()) == "2026.3.0"
    finally:
        if isinstance(client, WATS):
            client.close()
        else:
            await client.aclose()
    (call,) = emulator.calls()
    assert call.path == "/api/App/Version"
    assert call.headers["authorization"] == "Basic [REDACTED]"
    assert call.headers["user-agent"].startswith("pywats/")
    assert call.headers["accept"] == "application/json"


def test_missing_base_url_or_credentials() -> None:
    with pytest.raises(WATSConfigurationError, match="base_url is required"):
        WATS(username="u", password="p")
    with pytest.raises(WATSConfigurationError, match="no WATS credentials"):
        WATS("http://h")
    with pytest.raises(WATSConfigurationError, match="max_response_bytes"):
        WATS("http://h", token="t", max_response_bytes=0)
    with pytest.raises(WATSConfigurationError, match="max_response_bytes"):
        AsyncWATS("http://h", token="t", max_response_bytes=0)


async def test_context_managers_and_repr() -> None:
    with WATS("http://h/api", username="u", password="hidden", station=Station("S1")) as wats:
        assert repr(wats) == "WATS(base_url='http://h', station='S1')"
        assert "hidden" not in repr(wats)
    async with AsyncWATS("http://h", token="t", station=Station("S2")) as awats:
        assert repr(awats) == "AsyncWATS(base_url='http://h', station='S2')"
    assert WATS("http://h", token="t").station.name  # defaults to the host name


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYWATS_BASE_URL", "http://env-host/api")
    monkeypatch.setenv("PYWATS_USERNAME", "env-user")
    monkeypatch.setenv("PYWATS_PASSWORD", "env-pass")
    monkeypatch.setenv("PYWATS_STATION_NAME", "ENV-ST")
    monkeypatch.setenv("PYWATS_SOMETHING_ELSE", "ignored")
    settings = WATSSettings.from_env()
    assert settings.password is not None
    assert "env-pass" not in repr(settings)
    with WATS.from_env() as wats:
        assert wats.base_url == "http://env-host"
        assert wats.station == Station("ENV-ST", "Unknown", "Test")
    env_file = tmp_path / "wats.env"
    env_file.write_text("PYWATS_STATION_LOCATION=Hall 3\nPYWATS_TIMEOUT=5\n")
    from_file = WATSSettings.from_env(env_file)
    assert from_file.station_location == "Hall 3"
    assert from_file.timeout == 5.0
    client = AsyncWATS.from_env(str(env_file), station=Station("override"))
    assert client.station.name == "override"


def test_no_env_file_is_read_implicitly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PYWATS_BASE_URL=http://from-dotenv\n")
    monkeypatch.delenv("PYWATS_BASE_URL", raising=False)
    assert WATSSettings().base_url is None
