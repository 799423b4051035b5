"""What one running service shares between requests, and the dependencies routes use."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from corekit.errors import OperationError, RateLimitExceededError
from corekit.files import FileLock, atomic_write
from corekit.ratelimit import Limiter, Rate, RateLimiter
from timeline import _hotpath
from timeline._auth import Principal, TokenIssuer
from timeline._db import Database
from timeline._models import utcnow
from timeline._tenancy import principal_for_key, principal_for_user
from timeline.errors import ForbiddenError, RateLimitError, UnauthorizedError
from timeline.settings import Settings

if TYPE_CHECKING:
    from timeline._models import Event

logger = logging.getLogger(__name__)

AppendListener = Callable[["Context", str, Sequence["Event"], str], Awaitable[None]]
"""Called with (context, tenant id, committed events, origin) after events are committed."""

ReactionInterest = Callable[[str, Collection[str]], Awaitable[bool]]
"""Whether (tenant id, event types) may trigger a reaction; answered from memory, no query."""


class BackgroundService(Protocol):
    """Something the service runs beside the requests (started and stopped by the lifespan)."""

    async def start(self) -> None:
        """Begin working; return promptly."""

    async def stop(self) -> None:
        """Finish or hand back what is in progress, then return."""


def load_or_create_secret(path: Path) -> str:
    """The token signing secret in ``path``, generated there first if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock", timeout=30):
        if not path.exists():
            atomic_write(path, secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def build_limiter(settings: Settings) -> Limiter:
    """Per-client and per-tenant limits; shared through Redis when configured."""
    buckets = {
        "client": [Rate(settings.rate_limit_per_client, 60)],
        "tenant": [Rate(settings.rate_limit_per_tenant, 60)],
    }
    if settings.redis_url:
        from corekit.ratelimit import RedisRateLimiter

        return RedisRateLimiter(settings.redis_url, buckets, prefix=settings.redis_prefix)
    return RateLimiter(buckets)


@dataclass
class Context:
    """The service's shared state."""

    settings: Settings
    db: Database
    tokens: TokenIssuer
    signing_key: Ed25519PrivateKey
    limiter: Limiter
    _appender: _hotpath.Appender | None = None
    listeners: list[AppendListener] = field(default_factory=list)
    services: list[BackgroundService] = field(default_factory=list)
    reaction_interest: ReactionInterest | None = None

    async def wants_reactions(self, tenant_id: str, event_types: Collection[str]) -> bool:
        """Whether events of these types may trigger a reaction (a workflow rule) in the tenant.

        Asked before an append: when true, the append also writes a ``workflow_outbox`` row per
        event in its transaction, so the reaction survives a crash right after the commit. The
        workflows feature answers it from its rule cache (no query per append); without it (or
        without rules) it is false and the append writes nothing extra.

        Args:
            tenant_id: the appending tenant.
            event_types: the types of the events about to be appended.

        Returns:
            True if some enabled rule may react to one of them.
        """
        if self.reaction_interest is None or not event_types:
            return False
        return await self.reaction_interest(tenant_id, event_types)

    async def events_appended(
        self, tenant_id: str, events: Sequence[Event], *, origin: str = "api"
    ) -> None:
        """Tell every listener (workflows) about events just committed to a chain.

        ``origin`` says who appended them (``api``, ``email``, ``document``, ``workflow``), so a
        listener can refuse to react to its own output.
        """
        for listener in self.listeners:
            await listener(self, tenant_id, events, origin)

    async def start_services(self) -> None:
        """Start the background services, in registration order."""
        for service in self.services:
            await service.start()

    async def stop_services(self) -> None:
        """Stop the background services, newest first; one failing does not stop the rest."""
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                logger.exception("background service %r failed to stop", service)

    async def appender(self) -> _hotpath.Appender | None:
        """The PostgreSQL hot path's appender (``None`` on SQLite), made on first use."""
        if self._appender is None:
            pool = await self.db.hot_pool()
            if pool is None:
                return None
            self._appender = _hotpath.Appender(pool, retries=self.settings.append_retries)
        return self._appender

    @classmethod
    def build(cls, settings: Settings) -> Context:
        """Create the engines, keys and limiter for ``settings``."""
        from timeline._checkpoint import load_or_create_key

        secret = (
            settings.secret_key.get_secret_value()
            if settings.secret_key is not None
            else load_or_create_secret(settings.key_dir / "timeline-token.key")
        )
        return cls(
            settings=settings,
            db=Database(settings.database_url, pool_size=settings.pool_size),
            tokens=TokenIssuer(
                secret,
                access_ttl=settings.access_token_ttl,
                refresh_ttl=settings.refresh_token_ttl,
            ),
            signing_key=load_or_create_key(settings.signing_key_path),
            limiter=build_limiter(settings),
        )


async def get_context(request: Request) -> Context:
    """The service context of the running app.

    A coroutine on purpose: FastAPI runs a plain function dependency in its thread pool,
    which cost every request a thread hand-off.
    """
    ctx: Context = request.app.state.timeline
    return ctx


ContextDep = Annotated[Context, Depends(get_context)]

_bearer = HTTPBearer(auto_error=False, description="access token from POST /api/v1/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="a tenant API key")


async def authenticate(
    ctx: ContextDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from a bearer access token or an API key, checked against the database.

    Raises:
        UnauthorizedError: no credential, or one that is invalid, expired or revoked.
        RateLimitError: the tenant is over its request rate.
    """
    principal = await _principal(ctx, bearer, api_key)
    try:
        await ctx.limiter.aacquire("tenant", key=principal.tenant_id, timeout=0)
    except RateLimitExceededError as exc:
        msg = f"the tenant is over its request rate; retry in {exc.retry_after:.1f} s"
        raise RateLimitError(msg, retry_after=exc.retry_after) from exc
    except OperationError:
        logger.warning("rate limiter unavailable; request let through", exc_info=True)
    return principal


async def _principal(
    ctx: Context, bearer: HTTPAuthorizationCredentials | None, api_key: str | None
) -> Principal:
    if bearer is not None:
        claims = ctx.tokens.check(bearer.credentials, "access")
        pool = await ctx.db.hot_pool()
        if pool is not None:
            return await _hotpath.principal_for_user(pool, claims)
        async with ctx.db.single() as session:
            return await principal_for_user(session, claims)
    if api_key:
        async with ctx.db.single() as session:
            return await principal_for_key(session, api_key, utcnow())
    msg = "send an access token (Authorization: Bearer ...) or an API key (X-API-Key)"
    raise UnauthorizedError(msg)


def require(permission: str) -> Any:
    """A dependency giving the caller if it holds ``permission`` (403 otherwise).

    The permission is kept on the dependency (``.permission``) so a test can walk every route.
    """

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.can(permission):
            msg = f"this needs the {permission!r} permission; ask a tenant admin for a role with it"
            raise ForbiddenError(msg, details={"permission": permission})
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)
