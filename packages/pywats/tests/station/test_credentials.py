"""Credentials: an encrypted file (0600, never plain text) or a keyring backend."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError, PasswordSetError

from pywats.station._credentials import PASSWORD_ENV, CredentialStore, _keyring_usable
from pywats.station._errors import ConfigError

URL = "https://acme.wats.com/"
SECRET = "correct horse battery staple"


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict (stands in for Secret Service)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.refuse = False

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.refuse:
            raise PasswordSetError("locked")
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.items[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not found") from None


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def test_encrypted_file_round_trip(tmp_path: Path, no_keyring: None) -> None:
    store = CredentialStore(tmp_path / "creds", environ={})
    assert store.backend == "encrypted"
    assert store.get_password(URL, "op") is None
    store.set_password(URL, "op", SECRET)
    store.set_password(URL, "other", "second")
    assert store.get_password(URL.rstrip("/"), "op").get_secret_value() == SECRET  # type: ignore[union-attr]
    data = (tmp_path / "creds" / "credentials.enc").read_bytes()
    assert SECRET.encode() not in data
    assert b"op@" not in data
    for name in ("credentials.enc", "credentials.key"):
        mode = stat.S_IMODE((tmp_path / "creds" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    # a second store (another process) reads the same file
    again = CredentialStore(tmp_path / "creds", source="encrypted", environ={})
    assert again.get_password(URL, "other").get_secret_value() == "second"  # type: ignore[union-attr]
    assert again.delete_password(URL, "op")
    assert not again.delete_password(URL, "op")
    assert again.get_password(URL, "op") is None
    assert SECRET not in repr(again)


def test_encrypted_is_forced_even_with_a_keyring(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    store = CredentialStore(tmp_path, source="encrypted", environ={})
    store.set_password(URL, "op", SECRET)
    assert store.backend == "encrypted"
    assert memory_keyring.items == {}


def test_keyring_backend(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    store = CredentialStore(tmp_path, environ={})
    assert store.backend == "keyring"
    store.set_password(URL, "op", SECRET)
    assert memory_keyring.items == {("pywats-station", "op@https://acme.wats.com"): SECRET}
    assert store.get_password(URL, "op").get_secret_value() == SECRET  # type: ignore[union-attr]
    assert not (tmp_path / "credentials.enc").exists()
    assert store.delete_password(URL, "op")
    assert not store.delete_password(URL, "op")
    assert store.get_password(URL, "op") is None


def test_keyring_refusal_is_a_clear_error(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    memory_keyring.refuse = True
    with pytest.raises(ConfigError, match="keyring refused") as caught:
        CredentialStore(tmp_path, environ={}).set_password(URL, "op", SECRET)
    assert SECRET not in str(caught.value)


def test_keyring_detection(memory_keyring: MemoryKeyring) -> None:
    assert _keyring_usable()
    keyring.set_keyring(fail.Keyring())
    assert not _keyring_usable()
    from keyring.backends.chainer import ChainerBackend

    class Empty(ChainerBackend):
        backends: list[KeyringBackend] = []  # noqa: RUF012 - shadows the discovered list

    keyring.set_keyring(Empty())
    assert not _keyring_usable()


def test_environment_wins(tmp_path: Path, no_keyring: None) -> None:
    store = CredentialStore(tmp_path, environ={PASSWORD_ENV: "from-env"})
    assert store.get_password(URL, "op").get_secret_value() == "from-env"  # type: ignore[union-attr]


def test_empty_password_is_refused(tmp_path: Path, no_keyring: None) -> None:
    with pytest.raises(ConfigError, match="empty"):
        CredentialStore(tmp_path, environ={}).set_password(URL, "op", "")


def test_lost_key_is_explained(tmp_path: Path, no_keyring: None) -> None:
    store = CredentialStore(tmp_path, environ={})
    store.set_password(URL, "op", SECRET)
    (tmp_path / "credentials.key").unlink()
    with pytest.raises(ConfigError, match=r"key .* is missing"):
        store.get_password(URL, "op")


def test_wrong_key_is_explained(tmp_path: Path, no_keyring: None) -> None:
    from cryptography.fernet import Fernet

    store = CredentialStore(tmp_path, environ={})
    store.set_password(URL, "op", SECRET)
    (tmp_path / "credentials.key").write_bytes(Fernet.generate_key())
    with pytest.raises(ConfigError, match="cannot be decrypted") as caught:
        store.get_password(URL, "op")
    assert SECRET not in str(caught.value)


def test_unreadable_files(tmp_path: Path, no_keyring: None) -> None:
    (tmp_path / "credentials.enc").mkdir()
    with pytest.raises(ConfigError, match="cannot read the credential file"):
        CredentialStore(tmp_path, environ={}).get_password(URL, "op")
    other = tmp_path / "other"
    other.mkdir()
    (other / "credentials.enc").write_bytes(b"x")
    (other / "credentials.key").mkdir()
    with pytest.raises(ConfigError, match="cannot read the credential key"):
        CredentialStore(other, environ={}).get_password(URL, "op")


def test_unwritable_file(tmp_path: Path, no_keyring: None) -> None:
    store = CredentialStore(tmp_path, environ={})
    store.set_password(URL, "op", SECRET)
    (tmp_path / "credentials.enc").unlink()
    (tmp_path / "credentials.enc").mkdir()
    (tmp_path / "credentials.enc" / "x").write_text("")
    with pytest.raises(ConfigError, match=r"cannot (read|write) the credential file"):
        store.set_password(URL, "op", SECRET)
