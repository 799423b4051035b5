"""Subjects, event schemas, appends with payload validation, and keyset-paginated reads."""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

import jsonschema
from jsonschema.protocols import Validator
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from timeline._auth import Principal
from timeline._canonical import canonical_json
from timeline._chain import NewEvent, audit, create_subject
from timeline._db import Database
from timeline._models import Base, Event, EventSchema, Subject, new_id, utcnow
from timeline.errors import ConflictError, NotFoundError, ValidationFailedError

_VALIDATORS: OrderedDict[tuple[str, str, int], Validator] = OrderedDict()
_VALIDATOR_CACHE = 1024
_UNSTORABLE_TIMES = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


async def _validator(
    session: AsyncSession, tenant_id: str, event_type: str, version: int
) -> Validator:
    # Schema versions never change once created (no route updates or deletes one), so a
    # validator can be kept per (tenant, type, version) and an append skips that query.
    key = (tenant_id, event_type, version)
    validator = _VALIDATORS.get(key)
    if validator is None:
        schema = await get_schema(session, tenant_id, event_type, version)
        cls = jsonschema.validators.validator_for(schema.definition)
        validator = cls(schema.definition, format_checker=cls.FORMAT_CHECKER)
        _VALIDATORS[key] = validator
        if len(_VALIDATORS) > _VALIDATOR_CACHE:
            _VALIDATORS.popitem(last=False)
    return validator


def encode_cursor(*parts: Any) -> str:
    """An opaque keyset cursor."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The parts of a cursor made by :func:`encode_cursor`.

    Raises:
        ValidationFailedError: the cursor was not issued by this service.
    """
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        msg = "cursor is not valid; pass next_cursor from the previous page unchanged"
        raise ValidationFailedError(msg) from exc
    if not isinstance(parts, list) or len(parts) != arity:
        msg = "cursor is not valid; pass next_cursor from the previous page unchanged"
        raise ValidationFailedError(msg)
    return parts


async def count(session: AsyncSession, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` selects."""
    return int(
        (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    )


_Row = TypeVar("_Row", bound=Base)


async def tenant_row(
    session: AsyncSession, model: type[_Row], tenant_id: str, row_id: str, noun: str
) -> _Row:
    """The row ``row_id`` of ``model`` (a table with ``id`` and ``tenant_id``) in the tenant.

    Raises:
        NotFoundError: no such row in the tenant (another tenant's id answers the same).
    """
    columns = model.__table__.c
    stmt = select(model).where(columns.tenant_id == tenant_id, columns.id == row_id)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        msg = f"{noun} {row_id} does not exist in this tenant"
        raise NotFoundError(msg)
    return row


async def page_by_id(
    session: AsyncSession,
    base: Select[Any],
    id_column: InstrumentedAttribute[str],
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None, int]:
    """One keyset page of ``base`` in ``id_column`` order.

    Returns:
        The page's objects, the cursor of the next page (``None`` on the last), and how many
        rows ``base`` selects in all.

    Raises:
        ValidationFailedError: ``cursor`` is not one this service issued.
    """
    total = await count(session, base)
    stmt = base if cursor is None else base.where(id_column > str(decode_cursor(cursor, 1)[0]))
    rows = list((await session.execute(stmt.order_by(id_column).limit(limit + 1))).scalars())
    more = len(rows) > limit
    return rows[:limit], encode_cursor(rows[limit - 1].id) if more else None, total


# --- subjects --------------------------------------------------------------------------------


async def new_subject(
    session: AsyncSession,
    principal: Principal,
    *,
    subject_type: str,
    external_ref: str | None,
    display_name: str | None,
) -> Subject:
    """A subject with an empty chain.

    Raises:
        ConflictError: ``external_ref`` is taken in this tenant.
    """
    if external_ref is not None:
        stmt = select(Subject.id).where(
            Subject.tenant_id == principal.tenant_id, Subject.external_ref == external_ref
        )
        if (await session.execute(stmt)).first():
            msg = f"external_ref {external_ref!r} is taken; look it up with ?external_ref="
            raise ConflictError(msg)
    return await create_subject(
        session, principal.tenant_id, subject_type, external_ref, display_name
    )


async def get_subject(session: AsyncSession, tenant_id: str, subject_id: str) -> Subject:
    """The subject ``subject_id`` of the tenant.

    Raises:
        NotFoundError: no such subject in the tenant.
    """
    return await tenant_row(session, Subject, tenant_id, subject_id, "subject")


def subjects_query(
    tenant_id: str, subject_type: str | None, external_ref: str | None
) -> Select[Subject]:
    """Subjects of the tenant, optionally filtered, ordered by id."""
    stmt = select(Subject).where(Subject.tenant_id == tenant_id)
    if subject_type is not None:
        stmt = stmt.where(Subject.subject_type == subject_type)
    if external_ref is not None:
        stmt = stmt.where(Subject.external_ref == external_ref)
    return stmt


# --- schemas ---------------------------------------------------------------------------------


async def new_schema(
    session: AsyncSession, principal: Principal, *, event_type: str, definition: dict[str, Any]
) -> EventSchema:
    """The next version of the schema for ``event_type``.

    Raises:
        ValidationFailedError: ``definition`` is not a valid JSON Schema.
    """
    try:
        jsonschema.validators.validator_for(definition).check_schema(definition)
    except jsonschema.SchemaError as exc:
        msg = f"schema is not a valid JSON Schema: {exc.message}"
        raise ValidationFailedError(msg) from exc
    latest = select(func.max(EventSchema.version)).where(
        EventSchema.tenant_id == principal.tenant_id, EventSchema.event_type == event_type
    )
    version = int((await session.execute(latest)).scalar() or 0) + 1
    schema = EventSchema(
        id=new_id(),
        tenant_id=principal.tenant_id,
        event_type=event_type,
        version=version,
        definition=definition,
        created_at=utcnow(),
    )
    session.add(schema)
    await session.flush()
    await audit(
        session,
        principal.tenant_id,
        principal.actor,
        "schema.created",
        schema.id,
        changes={"event_type": event_type, "version": version},
    )
    return schema


async def get_schema(
    session: AsyncSession, tenant_id: str, event_type: str, version: int
) -> EventSchema:
    """One schema version.

    Raises:
        NotFoundError: no such version for that event type.
    """
    stmt = select(EventSchema).where(
        EventSchema.tenant_id == tenant_id,
        EventSchema.event_type == event_type,
        EventSchema.version == version,
    )
    schema = (await session.execute(stmt)).scalar_one_or_none()
    if schema is None:
        msg = (
            f"no schema version {version} for event type {event_type!r}; "
            "create one with POST /api/v1/schemas"
        )
        raise NotFoundError(msg)
    return schema


# --- events ----------------------------------------------------------------------------------


class EventInput(NamedTuple):
    """An event as a client sent it."""

    event_type: str
    schema_version: int
    event_time: datetime
    payload: dict[str, Any]


def _event_time(item: EventInput) -> datetime:
    event_time = item.event_time.astimezone(UTC)  # the API model refused times that overflow
    if event_time in _UNSTORABLE_TIMES:
        # asyncpg stores these two instants as -infinity/infinity, which read back differently.
        msg = (
            "event_time must lie strictly between 0001-01-01T00:00:00Z and "
            "9999-12-31T23:59:59.999999Z"
        )
        raise ValidationFailedError(msg)
    return event_time


def _validated(item: EventInput, event_time: datetime, validator: Validator) -> NewEvent:
    event_type, schema_version, _, payload = item
    try:
        errors = sorted(validator.iter_errors(payload), key=lambda e: str(list(e.path)))
    except Exception as exc:
        # A schema can be valid yet unusable (an unresolvable $ref, a bad regex).
        msg = f"{event_type} schema version {schema_version} cannot be evaluated: {exc}"
        raise ValidationFailedError(msg[:500]) from exc
    if errors:
        msg = f"payload does not match {event_type} schema version {schema_version}"
        details = [
            {"path": "/".join(str(p) for p in e.path), "message": e.message} for e in errors[:20]
        ]
        raise ValidationFailedError(msg, details={"errors": details})
    return NewEvent(event_type, schema_version, event_time, canonical_json(payload))


SYSTEM_SCHEMA_VERSION = 1


def system_event(
    event_type: str, payload: dict[str, Any], event_time: datetime | None = None
) -> NewEvent:
    """An event the service writes itself (``document_uploaded``, ``email_received``, ...).

    It is chained and verified like any other, but validated by the code that builds it rather
    than by a tenant schema; ``event_time`` defaults to now.
    """
    return NewEvent(
        event_type,
        SYSTEM_SCHEMA_VERSION,
        (event_time or utcnow()).astimezone(UTC),
        canonical_json(payload),
    )


async def prepare(session: AsyncSession, tenant_id: str, item: EventInput) -> NewEvent:
    """Validate ``payload`` against its schema version and canonicalise it.

    Raises:
        NotFoundError: the schema version does not exist.
        ValidationFailedError: the payload does not match the schema.
    """
    event_time = _event_time(item)
    validator = await _validator(session, tenant_id, item.event_type, item.schema_version)
    return _validated(item, event_time, validator)


async def prepare_all(db: Database, tenant_id: str, items: Sequence[EventInput]) -> list[NewEvent]:
    """:func:`prepare` each item, reading a schema only when its validator is not cached.

    Raises:
        NotFoundError: a schema version does not exist.
        ValidationFailedError: a payload does not match its schema.
    """
    prepared = []
    for item in items:
        event_time = _event_time(item)
        validator = _VALIDATORS.get((tenant_id, item.event_type, item.schema_version))
        if validator is None:
            async with db.read() as session:
                validator = await _validator(
                    session, tenant_id, item.event_type, item.schema_version
                )
        prepared.append(_validated(item, event_time, validator))
    return prepared


async def get_event(session: AsyncSession, tenant_id: str, event_id: str) -> Event:
    """One event of the tenant.

    Raises:
        NotFoundError: no such event in the tenant.
    """
    return await tenant_row(session, Event, tenant_id, event_id, "event")


async def subject_events(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    *,
    newest_first: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[Event], str | None, int]:
    """A page of a subject's chain in seq order, the next cursor, and the total."""
    await get_subject(session, tenant_id, subject_id)
    base = select(Event).where(Event.tenant_id == tenant_id, Event.subject_id == subject_id)
    total = await count(session, base)
    stmt = base
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**62:
            msg = "cursor is not valid; pass next_cursor from the previous page unchanged"
            raise ValidationFailedError(msg)
        stmt = stmt.where(Event.seq < after if newest_first else Event.seq > after)
    order = (Event.seq.desc(), Event.id.desc()) if newest_first else (Event.seq, Event.id)
    rows = list((await session.execute(stmt.order_by(*order).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].seq) if more else None, total


async def tenant_events(
    session: AsyncSession,
    tenant_id: str,
    *,
    event_type: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Event], str | None, int]:
    """A page of the tenant's events by (event_time, id), filtered, with the total."""
    base = select(Event).where(Event.tenant_id == tenant_id)
    if event_type is not None:
        base = base.where(Event.event_type == event_type)
    if since is not None:
        base = base.where(Event.event_time >= since)
    if until is not None:
        base = base.where(Event.event_time < until)
    total = await count(session, base)
    stmt = base
    if cursor is not None:
        time_text, last_id = decode_cursor(cursor, 2)
        try:
            after = datetime.fromisoformat(time_text)
            last_id = str(last_id)
        except (TypeError, ValueError) as exc:
            msg = "cursor is not valid; pass next_cursor from the previous page unchanged"
            raise ValidationFailedError(msg) from exc
        stmt = stmt.where(
            or_(Event.event_time > after, and_(Event.event_time == after, Event.id > last_id))
        )
    ordered = stmt.order_by(Event.event_time, Event.id).limit(limit + 1)
    rows = list((await session.execute(ordered)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].event_time.isoformat(), rows[-1].id) if more else None
    return rows, next_cursor, total
