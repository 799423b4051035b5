"""Keeping an XOAUTH2 account's access token fresh for a sync.

Before a sync, an account with OAuth2 refresh settings whose access token is missing or expires
within ``settings.mail_token_refresh_margin`` seconds gets a new one (:func:`renew`). The new
access token, its expiry and a rotated refresh token are written at once, in a short
transaction of their own: a rotated refresh token is the only valid one from then on, so it
must survive whatever happens to the sync afterwards.
"""

from __future__ import annotations

__all__ = ["can_refresh", "renew", "stale"]

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import update

from timeline._db import Database
from timeline._models import utcnow
from timeline.mail._accounts import Credentials, cipher_for
from timeline.mail._models import EmailAccount
from timeline.mail._oauth import refresh
from timeline.settings import Settings

logger = logging.getLogger(__name__)


def can_refresh(account: EmailAccount) -> bool:
    """Whether ``account`` logs in with XOAUTH2 and stores OAuth2 refresh settings."""
    return account.auth == "xoauth2" and bool(account.token_refresh)


def stale(account: EmailAccount, settings: Settings, now: datetime | None = None) -> bool:
    """Whether ``account``'s access token must be renewed before a sync.

    True when it can refresh and the stored access token is missing or expires within
    ``settings.mail_token_refresh_margin`` seconds (a token of unknown expiry is used as it
    is; an IMAP refusal renews it).

    Raises:
        TimelineError: no configured key opens the stored credentials.
    """
    if not can_refresh(account):
        return False
    expires_at = account.token_expires_at
    if expires_at is not None:
        limit = (now or utcnow()) + timedelta(seconds=settings.mail_token_refresh_margin)
        if expires_at <= limit:
            return True
    return not Credentials.decrypt(cipher_for(settings), account.credentials).secret


async def renew(db: Database, settings: Settings, account: EmailAccount) -> None:
    """Get a new access token for ``account`` and store it (with a rotated refresh token).

    ``account`` (a detached row) is updated in place, so a provider made from it afterwards
    uses the new token.

    Args:
        db: the database.
        settings: the settings (credential keys, timeout).
        account: an account for which :func:`can_refresh` holds.

    Raises:
        TokenRefreshError: the token endpoint refused or could not be reached; the message
            names the account, never a secret.
        TimelineError: no configured key opens the stored credentials.
    """
    cipher = cipher_for(settings)
    creds = Credentials.decrypt(cipher, account.credentials)
    if creds.oauth2 is None:  # token_refresh is set only together with the settings
        return
    token = await refresh(
        creds.oauth2, account=account.name, http_timeout=settings.mail_imap_timeout
    )
    oauth2 = creds.oauth2
    if token.refresh_token is not None:
        oauth2 = replace(oauth2, refresh_token=token.refresh_token)
    blob = Credentials(creds.username, token.access_token, oauth2).encrypt(cipher)
    async with db.write() as session:
        await session.execute(
            update(EmailAccount)
            .where(EmailAccount.id == account.id)
            .values(credentials=blob, token_expires_at=token.expires_at)
        )
    account.credentials = blob
    account.token_expires_at = token.expires_at
    logger.info(
        "renewed the access token of e-mail account %s (refresh token %s)",
        account.id,
        "rotated" if token.refresh_token is not None else "kept",
    )
