from __future__ import annotations

import pytest

from corekit._secrets import REDACTED, could_hold_secret, is_secret_name
from corekit.http._redact import Redactor
from corekit.testing import REDACTED as LOG_REDACTED
from corekit.testing._requestlog import redact_body, redact_headers, redact_query

SECRET = [
    "Authorization",
    "Proxy-Authorization",
    "X-Auth-Token",
    "Cookie",
    "Set-Cookie",
    "X-API-Key",
    "apiKey",
    "client_secret",
    "refresh_token",
    "password",
    "sessionid",
    "code",
    "sig",
]
PLAIN = ["Content-Type", "Accept", "page", "limit", "machineId", "X-Request-ID"]


@pytest.mark.parametrize("name", SECRET)
def test_secret_names_are_hidden_by_the_client_and_the_emulator_log(name: str) -> None:
    assert is_secret_name(name)
    assert Redactor().is_secret_header(name)
    assert redact_headers([(name.lower().encode(), b"value-123")])[name.lower()].endswith(REDACTED)
    assert redact_query(f"{name}=value-123") == f"{name}={REDACTED}"


@pytest.mark.parametrize("name", PLAIN)
def test_plain_names_stay_visible(name: str) -> None:
    assert not is_secret_name(name)
    assert redact_headers([(name.lower().encode(), b"v")])[name.lower()] == "v"


def test_one_marker_everywhere() -> None:
    assert LOG_REDACTED == REDACTED
    assert Redactor(params=["machine"]).is_secret_param("Machine")


@pytest.mark.parametrize("name", SECRET)
def test_a_json_body_naming_a_secret_is_always_scanned(name: str) -> None:
    body = b'{"Steps": [{"Name": "x"}], "%s": "value-123"}' % name.encode()
    assert could_hold_secret(body)
    redacted = redact_body(body, "application/json")
    assert b"value-123" not in redacted
    assert redacted.startswith(b'{"Steps": [{"Name": "x"}]')


def test_a_json_body_without_secret_names_is_returned_as_is() -> None:
    body = b'{"Steps": [' + b", ".join([b'{"Name": "step", "Value": 1.5}'] * 500) + b"]}"
    assert not could_hold_secret(body)
    assert redact_body(body, "application/json") is body
