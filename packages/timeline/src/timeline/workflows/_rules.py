"""Rule conditions, webhook URL checks, and the per-tenant cache of enabled rules.

The append listener runs after every committed append, so it must cost next to nothing for a
tenant without rules: :class:`RuleCache` keeps each tenant's enabled rules in memory (one query
per tenant per ``workflow_rules_ttl`` seconds at most); a change made through this process
invalidates its entry at once, one made through another worker process is seen within the TTL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from jsonschema.protocols import Validator
from sqlalchemy import select

from timeline._db import Database
from timeline.errors import ValidationFailedError
from timeline.workflows._models import WorkflowRule

MAX_CONDITION_ERRORS = 5


class UnresolvableHostError(ValidationFailedError):
    """A webhook host has no address (perhaps for a moment: a delivery retries it)."""


def compile_condition(condition: dict[str, Any]) -> Validator:
    """A validator of event payloads for ``condition`` (a JSON Schema, Draft 2020-12 default).

    Raises:
        ValidationFailedError: ``condition`` is not a valid JSON Schema.
    """
    cls = jsonschema.validators.validator_for(condition, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(condition)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        msg = f"condition is not a valid JSON Schema at {path}: {exc.message}"
        raise ValidationFailedError(msg[:500]) from exc
    validator: Validator = cls(condition)
    return validator


@dataclass(frozen=True, slots=True)
class CachedRule:
    """What the append listener needs of an enabled rule, without touching the database."""

    id: str
    event_type: str
    action_type: str
    validator: Validator


class RuleCache:
    """Each tenant's enabled rules by event type, kept for ``ttl`` seconds.

    Args:
        db: the service's database.
        ttl: seconds an entry is trusted; 0 reads the rules on every append.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self, db: Database, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, dict[str, list[CachedRule]]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def invalidate(self, tenant_id: str) -> None:
        """Forget the tenant's rules (after a change made through this process)."""
        self._entries.pop(tenant_id, None)

    async def rules(self, tenant_id: str, event_type: str) -> list[CachedRule]:
        """The tenant's enabled rules triggered by ``event_type``.

        Args:
            tenant_id: the tenant.
            event_type: the appended event's type.

        Returns:
            The rules, oldest first (read from the database at most once per TTL).
        """
        return (await self._by_type(tenant_id)).get(event_type, [])

    async def has_rules(self, tenant_id: str, event_types: Collection[str]) -> bool:
        """Whether the tenant has an enabled rule triggered by one of ``event_types``.

        Answered from the same cache as :meth:`rules` (same TTL, no query while it is fresh);
        this is the interest check every append asks before writing outbox rows.

        Args:
            tenant_id: the tenant.
            event_types: the types of the events about to be appended.

        Returns:
            True if some enabled rule may react.
        """
        by_type = await self._by_type(tenant_id)
        return bool(by_type) and any(t in by_type for t in event_types)

    async def _by_type(self, tenant_id: str) -> dict[str, list[CachedRule]]:
        entry = self._entries.get(tenant_id)
        if entry is None or self._clock() - entry[0] >= self._ttl:
            lock = self._locks.setdefault(tenant_id, asyncio.Lock())
            async with lock:  # one load per tenant, however many appends wait for it
                entry = self._entries.get(tenant_id)
                if entry is None or self._clock() - entry[0] >= self._ttl:
                    entry = (self._clock(), await self._load(tenant_id))
                    self._entries[tenant_id] = entry
        return entry[1]

    async def _load(self, tenant_id: str) -> dict[str, list[CachedRule]]:
        stmt = (
            select(
                WorkflowRule.id,
                WorkflowRule.event_type,
                WorkflowRule.action_type,
                WorkflowRule.condition,
            )
            .where(WorkflowRule.tenant_id == tenant_id, WorkflowRule.enabled.is_(True))
            .order_by(WorkflowRule.created_at, WorkflowRule.id)
        )
        async with self._db.single() as session:
            rows = (await session.execute(stmt)).all()
        by_type: dict[str, list[CachedRule]] = {}
        for rule_id, event_type, action_type, condition in rows:
            try:
                validator = compile_condition(condition)
            except ValidationFailedError:  # checked at creation; never silently act on it
                continue
            by_type.setdefault(event_type, []).append(
                CachedRule(rule_id, event_type, action_type, validator)
            )
        return by_type


def condition_errors(validator: Validator, payload: Any) -> list[str]:
    """Why ``payload`` does not satisfy the condition (empty when it does).

    Raises:
        ValidationFailedError: the condition cannot be evaluated (e.g. an unresolvable ``$ref``).
    """
    try:
        errors = list(validator.iter_errors(payload))
    except Exception as exc:
        msg = f"the condition cannot be evaluated: {exc}"
        raise ValidationFailedError(msg[:500]) from exc
    return [
        f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}"[:300]
        for e in errors[:MAX_CONDITION_ERRORS]
    ]


# --- webhook URLs ----------------------------------------------------------------------------


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url_form(url: str) -> tuple[str, int]:
    """The host and port of a webhook URL that has an acceptable form.

    Raises:
        ValidationFailedError: not http(s), no host, or credentials in the URL.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        msg = f"webhook url is not a valid URL: {exc}"
        raise ValidationFailedError(msg) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = "webhook url must be an absolute http:// or https:// URL with a host"
        raise ValidationFailedError(msg)
    if parts.username is not None or parts.password is not None:
        msg = (
            "webhook url must not carry credentials; put them in the rule's headers "
            "(stored encrypted) instead"
        )
        raise ValidationFailedError(msg)
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_url_target(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host is (or resolves to) a private, loopback or link-local address.

    Called when a rule is saved and again before each delivery (DNS may have changed).

    Raises:
        ValidationFailedError: the URL's form is wrong, the host does not resolve, or it
            reaches a private network while ``webhook_allow_private`` is off.
    """
    host, port = check_url_form(url)
    if allow_private:
        return
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            msg = f"webhook host {host!r} does not resolve ({exc.strerror or exc})"
            raise UnresolvableHostError(msg) from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    refused = [a for a in addresses if _refused_address(a)]
    if refused or not addresses:
        msg = (
            f"webhook host {host!r} is on a private, loopback or link-local network "
            f"({', '.join(refused) or 'no address'}); use a public address, or set "
            "TIMELINE_WEBHOOK_ALLOW_PRIVATE=true for an internal deployment"
        )
        raise ValidationFailedError(msg, details={"host": host})
