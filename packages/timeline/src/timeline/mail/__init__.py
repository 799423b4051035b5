"""E-mail accounts: encrypted credentials, IMAP sync into chained ``email_received`` events.

See ``docs/timeline/email.md`` for set-up, the security model, sync semantics and the routes.
The names below load on first use, so ``timeline email --help`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corekit.lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from fastapi import FastAPI

    from timeline._context import Context
    from timeline.mail._accounts import reencrypt
    from timeline.mail._imap import ImapConfig, ImapProvider
    from timeline.mail._provider import MailMessage, MailProvider, MailProviderError
    from timeline.mail._service import SyncService

__all__ = [
    "ImapConfig",
    "ImapProvider",
    "MailMessage",
    "MailProvider",
    "MailProviderError",
    "SyncService",
    "install",
    "reencrypt",
]


def install(app: FastAPI, ctx: Context) -> None:
    """Add the e-mail account routes and the background sync service.

    Args:
        app: the service's application (the service goes on ``app.state.timeline_mail``).
        ctx: its context (the service goes on ``ctx.services``).
    """
    from timeline.mail._routes import router
    from timeline.mail._service import SyncService

    service = SyncService(ctx)
    app.state.timeline_mail = service
    ctx.services.append(service)
    app.include_router(router)


__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "ImapConfig": "timeline.mail._imap",
        "ImapProvider": "timeline.mail._imap",
        "MailMessage": "timeline.mail._provider",
        "MailProvider": "timeline.mail._provider",
        "MailProviderError": "timeline.mail._provider",
        "SyncService": "timeline.mail._service",
        "reencrypt": "timeline.mail._accounts",
    },
    __all__,
)
