"""Tenants, users, roles and API keys, each change recorded on the tenant's audit chain."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline._auth import (
    SEEDED_ROLES,
    Principal,
    TokenClaims,
    hash_api_key,
    new_api_key,
    valid_permission,
)
from timeline._chain import AUDIT_REF, AUDIT_TYPE, audit, create_subject
from timeline._events import tenant_row
from timeline._models import ApiKey, Role, Tenant, User, UserRole, new_id, utcnow
from timeline.errors import ConflictError, NotFoundError, UnauthorizedError, ValidationFailedError

TENANT_CODE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,31}$")
PLATFORM_ACTOR = "platform"


async def create_tenant(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    admin_username: str,
    admin_password_hash: str,
    admin_email: str | None = None,
) -> tuple[Tenant, User]:
    """A tenant with its seeded roles, audit chain and first admin user, in one transaction.

    Raises:
        ValidationFailedError: ``code`` is not a lowercase slug of 3-32 characters.
        ConflictError: the code is taken.
    """
    if not TENANT_CODE.match(code):
        msg = "tenant code must be 3-32 lowercase letters, digits and single hyphens, e.g. acme-eu"
        raise ValidationFailedError(msg)
    if (await session.execute(select(Tenant.id).where(Tenant.code == code))).first():
        msg = f"tenant code {code!r} is taken; choose another"
        raise ConflictError(msg)
    tenant = Tenant(id=new_id(), code=code, name=name, status="active", created_at=utcnow())
    session.add(tenant)
    await session.flush()
    roles = {}
    for role_code, (role_name, permissions) in SEEDED_ROLES.items():
        role = Role(
            id=new_id(),
            tenant_id=tenant.id,
            code=role_code,
            name=role_name,
            permissions=permissions,
            is_system=True,
            created_at=utcnow(),
        )
        roles[role_code] = role
        session.add(role)
    await create_subject(session, tenant.id, AUDIT_TYPE, AUDIT_REF, "Audit trail")
    await audit(
        session, tenant.id, PLATFORM_ACTOR, "tenant.created", tenant.id, changes={"code": code}
    )
    user = await create_user(
        session,
        tenant.id,
        PLATFORM_ACTOR,
        username=admin_username,
        email=admin_email,
        password_hash=admin_password_hash,
        roles=["admin"],
    )
    return tenant, user


async def get_tenant(session: AsyncSession, tenant_id: str) -> Tenant:
    """The tenant (which exists: callers hold a principal of it)."""
    return (await session.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()


async def tenant_by_code(session: AsyncSession, code: str) -> Tenant | None:
    """The tenant with ``code``, if any."""
    return (await session.execute(select(Tenant).where(Tenant.code == code))).scalar_one_or_none()


async def update_tenant(
    session: AsyncSession, principal: Principal, *, name: str | None, status: str | None
) -> Tenant:
    """Rename the tenant or change its status (suspended tenants cannot log in)."""
    tenant = await get_tenant(session, principal.tenant_id)
    changes: dict[str, Any] = {}
    if name is not None and name != tenant.name:
        tenant.name, changes["name"] = name, name
    if status is not None and status != tenant.status:
        tenant.status, changes["status"] = status, status
    if changes:
        await audit(
            session, tenant.id, principal.actor, "tenant.updated", tenant.id, changes=changes
        )
    return tenant


async def _roles_by_code(session: AsyncSession, tenant_id: str, codes: list[str]) -> list[Role]:
    found = (
        (
            await session.execute(
                select(Role).where(Role.tenant_id == tenant_id, Role.code.in_(codes))
            )
        )
        .scalars()
        .all()
    )
    missing = sorted(set(codes) - {r.code for r in found})
    if missing:
        msg = f"unknown role(s) {missing}; list roles with GET /api/v1/roles"
        raise ValidationFailedError(msg)
    return list(found)


async def create_user(
    session: AsyncSession,
    tenant_id: str,
    actor: str,
    *,
    username: str,
    email: str | None,
    password_hash: str,
    roles: list[str],
) -> User:
    """A new active user with ``roles``.

    Raises:
        ConflictError: the username is taken in this tenant.
    """
    exists = select(User.id).where(User.tenant_id == tenant_id, User.username == username)
    if (await session.execute(exists)).first():
        msg = f"username {username!r} is taken in this tenant"
        raise ConflictError(msg)
    role_rows = await _roles_by_code(session, tenant_id, roles)
    user = User(
        id=new_id(),
        tenant_id=tenant_id,
        username=username,
        email=email,
        password_hash=password_hash,
        is_active=True,
        token_version=0,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    session.add_all(UserRole(user_id=user.id, role_id=r.id, tenant_id=tenant_id) for r in role_rows)
    await audit(
        session,
        tenant_id,
        actor,
        "user.created",
        user.id,
        changes={"username": username, "roles": roles},
    )
    return user


async def get_user(session: AsyncSession, tenant_id: str, user_id: str) -> User:
    """The user ``user_id`` of the tenant.

    Raises:
        NotFoundError: no such user in the tenant.
    """
    return await tenant_row(session, User, tenant_id, user_id, "user")


async def user_roles(session: AsyncSession, user_id: str) -> list[str]:
    """The codes of the user's roles, sorted."""
    stmt = (
        select(Role.code)
        .join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    return sorted((await session.execute(stmt)).scalars().all())


async def update_user(
    session: AsyncSession,
    principal: Principal,
    user_id: str,
    *,
    is_active: bool | None,
    password_hash: str | None,
    roles: list[str] | None,
) -> User:
    """Activate, deactivate, reset the password or replace the roles of a user.

    Deactivation and password changes end every session of the user at once.
    """
    user = await get_user(session, principal.tenant_id, user_id)
    changes: dict[str, Any] = {}
    if is_active is not None and is_active != user.is_active:
        user.is_active, changes["is_active"] = is_active, is_active
        user.token_version += 1
    if password_hash is not None:
        user.password_hash, changes["password"] = password_hash, "changed"
        user.token_version += 1
    if roles is not None:
        role_rows = await _roles_by_code(session, principal.tenant_id, roles)
        current = await session.execute(select(UserRole).where(UserRole.user_id == user.id))
        for link in current.scalars():
            await session.delete(link)
        await session.flush()
        session.add_all(
            UserRole(user_id=user.id, role_id=r.id, tenant_id=principal.tenant_id)
            for r in role_rows
        )
        changes["roles"] = sorted(roles)
    if changes:
        await audit(
            session, principal.tenant_id, principal.actor, "user.updated", user.id, changes=changes
        )
    return user


def check_permissions(permissions: list[str]) -> None:
    """Refuse permissions that are not ``resource:action``.

    Raises:
        ValidationFailedError: naming the bad entries.
    """
    bad = [p for p in permissions if not valid_permission(p)]
    if bad:
        msg = f"invalid permission(s) {bad}: use resource:action with known resources or *"
        raise ValidationFailedError(msg)


async def create_role(
    session: AsyncSession, principal: Principal, *, code: str, name: str, permissions: list[str]
) -> Role:
    """A custom role."""
    check_permissions(permissions)
    exists = select(Role.id).where(Role.tenant_id == principal.tenant_id, Role.code == code)
    if (await session.execute(exists)).first():
        msg = f"role {code!r} exists; update it with PATCH /api/v1/roles/{code}"
        raise ConflictError(msg)
    role = Role(
        id=new_id(),
        tenant_id=principal.tenant_id,
        code=code,
        name=name,
        permissions=sorted(set(permissions)),
        is_system=False,
        created_at=utcnow(),
    )
    session.add(role)
    await session.flush()
    await audit(
        session,
        principal.tenant_id,
        principal.actor,
        "role.created",
        role.id,
        changes={"code": code, "permissions": role.permissions},
    )
    return role


async def get_role(session: AsyncSession, tenant_id: str, code: str) -> Role:
    """The role ``code`` of the tenant.

    Raises:
        NotFoundError: no such role.
    """
    stmt = select(Role).where(Role.tenant_id == tenant_id, Role.code == code)
    role = (await session.execute(stmt)).scalar_one_or_none()
    if role is None:
        msg = f"role {code!r} does not exist in this tenant"
        raise NotFoundError(msg)
    return role


async def update_role(
    session: AsyncSession,
    principal: Principal,
    code: str,
    *,
    name: str | None,
    permissions: list[str] | None,
) -> Role:
    """Rename a role or replace its permissions (the admin role is fixed)."""
    role = await get_role(session, principal.tenant_id, code)
    if code == "admin":
        msg = "the admin role cannot be changed; create a custom role instead"
        raise ValidationFailedError(msg)
    changes: dict[str, Any] = {}
    if name is not None:
        role.name, changes["name"] = name, name
    if permissions is not None:
        check_permissions(permissions)
        role.permissions = sorted(set(permissions))
        changes["permissions"] = role.permissions
    if changes:
        await audit(
            session, principal.tenant_id, principal.actor, "role.updated", role.id, changes=changes
        )
    return role


async def create_api_key(
    session: AsyncSession, principal: Principal, *, name: str, role: str
) -> tuple[ApiKey, str]:
    """A new API key with the permissions of ``role``; the secret is returned once."""
    role_row = await get_role(session, principal.tenant_id, role)
    secret, digest = new_api_key()
    key = ApiKey(
        id=new_id(),
        tenant_id=principal.tenant_id,
        name=name,
        key_hash=digest,
        role_id=role_row.id,
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    await audit(
        session,
        principal.tenant_id,
        principal.actor,
        "api_key.created",
        key.id,
        changes={"name": name, "role": role},
    )
    return key, secret


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    """Revoke an API key; it stops working at once.

    Raises:
        NotFoundError: no such key in the tenant.
    """
    stmt = select(ApiKey).where(ApiKey.tenant_id == principal.tenant_id, ApiKey.id == key_id)
    key = (await session.execute(stmt)).scalar_one_or_none()
    if key is None:
        msg = f"API key {key_id} does not exist in this tenant"
        raise NotFoundError(msg)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await audit(session, principal.tenant_id, principal.actor, "api_key.revoked", key.id)
    return key


_INVALID = "the credential is no longer valid; log in again"


_TENANT_INACTIVE = "the tenant is not active; ask the platform administrator"


def check_user_row(row: Sequence[Any] | None, claims: TokenClaims) -> None:
    """Refuse a token whose user row (is_active, token_version, tenant status) says no.

    Raises:
        UnauthorizedError: the user is gone, inactive, the token predates a change, or the
            tenant is not active.
    """
    if row is None or not row[0] or row[1] != claims.version:
        raise UnauthorizedError(_INVALID)
    if row[2] != "active":
        raise UnauthorizedError(_TENANT_INACTIVE)


async def principal_for_user(session: AsyncSession, claims: TokenClaims) -> Principal:
    """The principal of a token's user, if the user is still active and the token current.

    Raises:
        UnauthorizedError: the user is gone, inactive, or the token predates a change.
    """
    # One round trip per request: the user, its tenant's status and its roles' permissions.
    stmt = (
        select(User.is_active, User.token_version, Tenant.status, Role.permissions)
        .join(Tenant, Tenant.id == User.tenant_id)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .outerjoin(Role, Role.id == UserRole.role_id)
        .where(User.id == claims.user_id, User.tenant_id == claims.tenant_id)
    )
    rows = (await session.execute(stmt)).all()
    check_user_row(rows[0] if rows else None, claims)
    permissions = frozenset(p for row in rows for p in (row.permissions or ()))
    return Principal(claims.tenant_id, "user", claims.user_id, permissions)


async def principal_for_key(session: AsyncSession, key: str, now: datetime) -> Principal:
    """The principal of an API key.

    Raises:
        UnauthorizedError: unknown or revoked key.
    """
    stmt = (
        select(ApiKey.id, ApiKey.tenant_id, ApiKey.revoked_at, Tenant.status, Role.permissions)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .join(Role, Role.id == ApiKey.role_id)
        .where(ApiKey.key_hash == hash_api_key(key))
    )
    row = (await session.execute(stmt)).first()
    if row is None or (row.revoked_at is not None and row.revoked_at <= now):
        msg = "the API key is unknown or revoked; create a new one"
        raise UnauthorizedError(msg)
    if row.status != "active":
        raise UnauthorizedError(_TENANT_INACTIVE)
    return Principal(row.tenant_id, "api_key", row.id, frozenset(row.permissions))
