"""Where the station keeps the WATS password: the system keyring, else an encrypted file.

Never in plain text. The keyring is used when :mod:`keyring` finds a real backend (Secret
Service, macOS Keychain, Windows Credential Locker); a headless Linux box usually has none,
and then the password goes into ``credentials.enc``, encrypted with Fernet (AES-128-CBC with
HMAC-SHA256) under a random key in ``credentials.key`` beside it. Both files are created with
mode 0600. The key file keeps the password out of the config file, backups of it and casual
reading; it does not protect against someone who can read the key file, which is why a keyring
is preferred where one exists.

``PYWATS_STATION_PASSWORD``, when set, wins over both (containers, systemd credentials).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from pywats.station._errors import ConfigError

__all__ = ["PASSWORD_ENV", "CredentialStore"]

PASSWORD_ENV = "PYWATS_STATION_PASSWORD"  # noqa: S105 - a variable name
"""Environment variable that, when set, supplies the password instead of the store."""
_SERVICE = "pywats-station"
_KEY_FILE = "credentials.key"
_DATA_FILE = "credentials.enc"

logger = logging.getLogger(__name__)


def _keyring_usable() -> bool:
    """Whether :mod:`keyring` has a backend that really stores secrets."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:  # pragma: no cover - keyring is part of the station extra
        return False
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    return bool(getattr(backend, "priority", 1) > 0)


class CredentialStore:
    """Keeps one password per (server URL, user name).

    Args:
        directory: folder of the encrypted file and its key (created 0700 if missing).
        source: ``"keyring"`` uses the system keyring when one works, else the file;
            ``"encrypted"`` always uses the file.
        environ: environment consulted for ``PYWATS_STATION_PASSWORD`` (default ``os.environ``).
    """

    def __init__(
        self,
        directory: Path,
        *,
        source: Literal["keyring", "encrypted"] = "keyring",
        environ: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self._environ = os.environ if environ is None else environ
        self.backend: Literal["keyring", "encrypted"] = (
            "keyring" if source == "keyring" and _keyring_usable() else "encrypted"
        )

    def __repr__(self) -> str:
        return f"CredentialStore(directory={str(self.directory)!r}, backend={self.backend!r})"

    def set_password(self, url: str, username: str, password: str) -> None:
        """Store ``password`` for ``username`` on ``url``, replacing any earlier one.

        Raises:
            ConfigError: the keyring refused it or the file cannot be written.
        """
        if not password:
            msg = "the password is empty: give the WATS password or API token"
            raise ConfigError(msg)
        account = _account(url, username)
        if self.backend == "keyring":
            import keyring
            from keyring.errors import KeyringError

            try:
                keyring.set_password(_SERVICE, account, password)
            except KeyringError as exc:
                msg = f"the system keyring refused the password: {type(exc).__name__}"
                raise ConfigError(msg) from None
            return
        secrets = self._read_file()
        secrets[account] = password
        self._write_file(secrets)

    def get_password(self, url: str, username: str) -> SecretStr | None:
        """The password for ``username`` on ``url``, or ``None`` when none is stored.

        Raises:
            ConfigError: the encrypted file exists but cannot be decrypted with its key.
        """
        from_env = self._environ.get(PASSWORD_ENV)
        if from_env:
            return SecretStr(from_env)
        account = _account(url, username)
        if self.backend == "keyring":
            import keyring

            value = keyring.get_password(_SERVICE, account)
        else:
            value = self._read_file().get(account)
        return None if value is None else SecretStr(value)

    def delete_password(self, url: str, username: str) -> bool:
        """Forget the password for ``username`` on ``url``; whether one was stored."""
        account = _account(url, username)
        if self.backend == "keyring":
            import keyring
            from keyring.errors import PasswordDeleteError

            try:
                keyring.delete_password(_SERVICE, account)
            except PasswordDeleteError:
                return False
            return True
        secrets = self._read_file()
        if secrets.pop(account, None) is None:
            return False
        self._write_file(secrets)
        return True

    @property
    def _key_path(self) -> Path:
        return self.directory / _KEY_FILE

    @property
    def _data_path(self) -> Path:
        return self.directory / _DATA_FILE

    def _fernet(self, *, create: bool) -> object | None:
        from cryptography.fernet import Fernet

        try:
            key = self._key_path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                return None
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = Fernet.generate_key()
            _write_private(self._key_path, key)
        except OSError as exc:
            msg = f"cannot read the credential key {self._key_path}: {exc.strerror or exc}"
            raise ConfigError(msg) from None
        return Fernet(key)

    def _read_file(self) -> dict[str, str]:
        from cryptography.fernet import Fernet, InvalidToken

        try:
            token = self._data_path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            msg = f"cannot read the credential file {self._data_path}: {exc.strerror or exc}"
            raise ConfigError(msg) from None
        fernet = self._fernet(create=False)
        if not isinstance(fernet, Fernet):
            msg = (
                f"{self._data_path} exists but its key {self._key_path} is missing: delete "
                "the file and run `pywats station login` again"
            )
            raise ConfigError(msg)
        try:
            data = json.loads(fernet.decrypt(token))
        except (InvalidToken, ValueError):
            msg = (
                f"{self._data_path} cannot be decrypted with {self._key_path}: delete both "
                "and run `pywats station login` again"
            )
            raise ConfigError(msg) from None
        return {str(k): str(v) for k, v in data.items()}

    def _write_file(self, secrets: dict[str, str]) -> None:
        from cryptography.fernet import Fernet

        fernet = self._fernet(create=True)
        assert isinstance(fernet, Fernet)
        try:
            _write_private(self._data_path, fernet.encrypt(json.dumps(secrets).encode()))
        except OSError as exc:
            msg = f"cannot write the credential file {self._data_path}: {exc.strerror or exc}"
            raise ConfigError(msg) from None
        logger.info("password stored encrypted in %s", self._data_path)


def _account(url: str, username: str) -> str:
    return f"{username}@{url.rstrip('/')}"


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only."""
    from corekit.files import atomic_write

    atomic_write(path, data, mode=0o600)
