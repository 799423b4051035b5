"""Encryption of stored secrets (e-mail credentials, webhook signing secrets).

Keys come from ``TIMELINE_CREDENTIAL_KEYS``, never from the token secret, so rotating one does
not touch the other. The first key encrypts and every key decrypts (``MultiFernet``): to rotate,
put a new key first, run ``timeline rotate-keys`` (which re-encrypts every stored secret under
it), then drop the old key.
"""

from __future__ import annotations

__all__ = ["SecretCipher", "generate_key"]

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from corekit.errors import ConfigurationError
from timeline.errors import TimelineError

ENV_NAME = "TIMELINE_CREDENTIAL_KEYS"


def generate_key() -> str:
    """A new random key, in the form ``TIMELINE_CREDENTIAL_KEYS`` takes."""
    return Fernet.generate_key().decode("ascii")


class SecretCipher:
    """Encrypts and decrypts stored secrets with the configured keys.

    Args:
        keys: url-safe base64 Fernet keys, newest first.

    Raises:
        ConfigurationError: no key, or a key that is not a Fernet key (named by position only).
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            msg = (
                f"no credential encryption key: set {ENV_NAME} to a JSON list of keys "
                "(make one with `timeline generate-key`)"
            )
            raise ConfigurationError(msg)
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip()))
            except (ValueError, TypeError) as exc:
                msg = (
                    f"{ENV_NAME} entry {position} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with `timeline generate-key`"
                )
                raise ConfigurationError(msg) from exc
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: bytes) -> str:
        """``plaintext`` encrypted under the newest key, as ASCII text."""
        return self._fernet.encrypt(plaintext).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        """The plaintext of ``token``.

        Raises:
            TimelineError: no configured key opens it (a key was dropped before rotating).
        """
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken as exc:
            msg = (
                f"a stored secret cannot be decrypted with any key in {ENV_NAME}; "
                "restore the key it was written with, then run `timeline rotate-keys`"
            )
            raise TimelineError(msg) from exc

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the newest key (same plaintext)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            msg = f"a stored secret cannot be decrypted with any key in {ENV_NAME}"
            raise TimelineError(msg) from exc
