"""The queue item and the rules every queue shares: validation, payload encoding, transitions.

Both :class:`~corekit.queue.MemoryQueue` and :class:`~corekit.queue.SQLiteQueue` call these
functions, so argument checks, the back-off, the dead-letter rule and the lease check are
written once.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corekit.errors import ConfigurationError, LeaseError, QueueError
from corekit.queue._status import QueueItemStatus

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2048
"""``last_error`` is cut to this many characters so one bad item cannot bloat the queue."""

INT_LIMIT = 2**62
"""Largest magnitude accepted for counts, ids and priorities.

SQLite stores 64-bit integers (a larger Python int fails to bind); the margin below 2**63
keeps ``attempts + extra_attempts`` in range as well.
"""

EXPIRED_ON_LAST_ATTEMPT = (
    "dead-lettered: its lease expired on its last attempt (the consumer crashed or outran "
    "the lease; extend() long work)"
)
"""``last_error`` of an item whose lease expired after it had used its ``max_attempts``."""

EXPIRED = "lease expired (the consumer crashed or outran the lease); the item is pending again"
"""``error`` of the history entry of a lease that expired and returned the item to pending."""

_TRUNCATED = "...[truncated]"
_STATUS_VALUES = frozenset(s.value for s in QueueItemStatus)

Backoff = Callable[[int], float]
"""Maps the number of attempts so far (>= 1) to seconds before the next try."""


def default_backoff(attempts: int) -> float:
    """Exponential back-off: 1, 2, 4, ... seconds, at most 300 (five minutes)."""
    return float(min(2 ** max(attempts - 1, 0), 300))


_UNSET: Any = object()
decode_payload: Callable[[str], Any] = json.JSONDecoder().decode


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A snapshot of one queue item, as returned by ``put``, ``lease`` and ``get``.

    Snapshots do not change when the queue does; call ``get(item.id)`` for a fresh one.
    Pass the snapshot returned by ``lease`` (or ``extend``) to ``ack`` / ``nack``: it carries
    the lease token that proves you hold the lease.

    Attributes:
        id: the queue's id for the item; never reused.
        payload_json: the payload as stored: compact JSON text.
        key: the deduplication key, or ``None``.
        priority: higher is leased first.
        status: where the item is in its life (see :class:`QueueItemStatus`).
        attempts: how many leases were granted so far; it only grows.
        max_attempts: a nack at or beyond this many attempts dead-letters the item, and so
            does the expiry of a lease at or beyond it.
        not_before: wall-clock time (epoch seconds) before which the item is not leased.
        created_at: wall-clock time of the put.
        updated_at: wall-clock time of the last change.
        lease_expires_at: while leased, when the lease runs out; otherwise ``None``.
        lease_token: while leased, the token of the current lease; for a done item, the token
            of the lease that acknowledged it; otherwise ``None``.
        last_error: the error given with the last nack (truncated), or ``None``.
        meta: the small JSON object given to ``put(meta=...)`` (listed without the payload),
            or ``None``.

    ``payload_json`` is ``None`` in a listing made with ``items(payloads=False)``.
    """

    id: int
    payload_json: str | None = field(repr=False)
    key: str | None
    priority: int
    status: QueueItemStatus
    attempts: int
    max_attempts: int
    not_before: float
    created_at: float
    updated_at: float
    lease_expires_at: float | None
    lease_token: str | None
    last_error: str | None
    meta: dict[str, Any] | None = None
    _payload: Any = field(default=_UNSET, init=False, repr=False, compare=False)

    @property
    def payload(self) -> Any:
        """The JSON value that was put, as JSON gives it back (tuples come back as lists).

        Decoded on first access (listing items does not decode them all), then kept.

        Raises:
            QueueError: the snapshot was listed without payloads; ``get(item.id)`` has it.
        """
        value = self._payload
        if value is _UNSET:
            if self.payload_json is None:
                msg = (
                    f"item {self.id} was listed without its payload (items(payloads=False)); "
                    "call get(item.id) to read it"
                )
                raise QueueError(msg)
            value = decode_payload(self.payload_json)
            object.__setattr__(self, "_payload", value)
        return value


HISTORY_ACTIONS = ("ack", "nack", "expired", "requeue", "hold", "release")
"""What a history entry records: a consumer's ack or nack, a lease expiry, an operator action."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded step in an item's life (see ``history(item_id)``).

    Attributes:
        item_id: the item's id.
        at: wall-clock time (epoch seconds) of the step.
        action: ``"ack"``, ``"nack"``, ``"expired"`` (a lease ran out), ``"requeue"``,
            ``"hold"`` or ``"release"``.
        status: the item's status after the step.
        attempts: the item's attempts at the time (the lease the step ended, for ack, nack
            and expiry).
        error: the error given with a nack (truncated), the reason of an expiry, or ``None``.
        detail: the JSON object given with ``ack(detail=...)`` / ``nack(detail=...)`` (e.g.
            an HTTP status and a latency), or ``None``.
    """

    item_id: int
    at: float
    action: str
    status: QueueItemStatus
    attempts: int
    error: str | None
    detail: dict[str, Any] | None


DeadHook = Callable[[QueueItem], None]
"""Called with a snapshot of each item that went dead (after the change is stored)."""


def encode_object(name: str, value: object) -> str | None:
    """Return the compact JSON text of a ``meta`` / ``detail`` dict (``None`` stays ``None``).

    Raises:
        ConfigurationError: ``value`` is not a dict of JSON values with str keys.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        msg = f"{name} must be None or a dict of JSON values, got {type(value).__name__!r}"
        raise ConfigurationError(msg)
    return encode_payload(value)


def decode_object(text: str | None) -> dict[str, Any] | None:
    """Decode what :func:`encode_object` stored."""
    if text is None:
        return None
    value: dict[str, Any] = decode_payload(text)
    return value


def _reject_payload(value: object) -> object:
    msg = (
        f"payload contains a {type(value).__name__!r}, which is not JSON; queue payloads must "
        "be JSON values (dict with str keys, list, str, int, float, bool or None)"
    )
    raise ConfigurationError(msg)


_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_reject_payload)


def encode_payload(payload: object) -> str:
    """Return the compact JSON text of ``payload``.

    Raises:
        ConfigurationError: if the payload is not a JSON value; the message names the type.
    """
    try:
        return _encoder.encode(payload)
    except ConfigurationError:
        raise
    except (TypeError, ValueError) as exc:
        msg = (
            f"payload is not a JSON value ({exc}); queue payloads must be JSON values "
            "(dict with str keys, list, str, int, float, bool or None; no NaN or infinity)"
        )
        raise ConfigurationError(msg) from None


def truncate_error(error: str | None) -> str | None:
    """Cut an error message to :data:`MAX_ERROR_CHARS` and make it storable as UTF-8.

    Lone surrogates (``os.fsdecode`` makes them from file names that are not UTF-8) are
    backslash-escaped: SQLite cannot store them, and a nack must not fail on its message.
    """
    if error is None:
        return None
    try:
        error.encode()
    except UnicodeEncodeError:
        error = error.encode(errors="backslashreplace").decode()
    if len(error) <= MAX_ERROR_CHARS:
        return error
    return error[: MAX_ERROR_CHARS - len(_TRUNCATED)] + _TRUNCATED


# --- argument checks ------------------------------------------------------------------------


def check_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) from ``minimum`` to :data:`INT_LIMIT`."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= INT_LIMIT:
        msg = f"{name} must be an int from {minimum} to 2**62, got {value!r}"
        raise ConfigurationError(msg)
    return value


def check_seconds(name: str, value: object, *, positive: bool) -> float:
    """Return ``value`` as float if it is a finite number > 0 (or >= 0), else raise."""
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        bound = "> 0" if positive else ">= 0"
        msg = f"{name} must be a finite number of seconds {bound}, got {value!r}"
        raise ConfigurationError(msg)
    return float(value)  # type: ignore[arg-type]


def check_key(key: object) -> str | None:
    """Return ``key`` if it is ``None`` or a non-empty str that UTF-8 can encode, else raise."""
    if key is None:
        return None
    if isinstance(key, str) and key:
        try:
            key.encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate, e.g. from a file name that is not UTF-8
        else:
            return key
    msg = (
        f"key must be None or a non-empty str without lone surrogates (it is stored as "
        f"UTF-8), got {key!r}"
    )
    raise ConfigurationError(msg)


def check_priority(priority: object) -> int:
    """Return ``priority`` if it is an int (not a bool) within +-:data:`INT_LIMIT`, else raise."""
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not -INT_LIMIT <= priority <= INT_LIMIT
    ):
        msg = (
            f"priority must be an int from -2**62 to 2**62 (higher is leased first), "
            f"got {priority!r}"
        )
        raise ConfigurationError(msg)
    return priority


def check_item(item: object) -> QueueItem:
    """Return ``item`` if it is a :class:`QueueItem`, else raise."""
    if not isinstance(item, QueueItem):
        msg = f"item must be the QueueItem returned by lease() or extend(), got {item!r}"
        raise ConfigurationError(msg)
    return item


def check_ids(item_ids: int | QueueItem | object) -> list[int]:
    """Normalise one id, one item or an iterable of them to a list of ids."""
    if isinstance(item_ids, QueueItem):
        return [item_ids.id]
    if isinstance(item_ids, int) and not isinstance(item_ids, bool):
        return [item_ids]
    try:
        values = list(item_ids)  # type: ignore[call-overload]
    except TypeError:
        values = None
    if values is not None:
        ids = [v.id if isinstance(v, QueueItem) else v for v in values]
        if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            return ids
    msg = f"item_ids must be an int id, a QueueItem or an iterable of them, got {item_ids!r}"
    raise ConfigurationError(msg)


def check_status(status: object) -> QueueItemStatus | None:
    """Return ``status`` as :class:`QueueItemStatus` (or ``None``), else raise."""
    if status is None:
        return None
    if isinstance(status, str) and status in _STATUS_VALUES:
        return QueueItemStatus(status)
    accepted = ", ".join(s.value for s in QueueItemStatus)
    msg = f"status must be None or one of {accepted}, got {status!r}"
    raise ConfigurationError(msg)


# --- transition rules -----------------------------------------------------------------------


def check_lease(
    queue: str,
    item: QueueItem,
    status: QueueItemStatus | None,
    token: str | None,
    action: str,
) -> None:
    """Raise :class:`LeaseError` unless the stored item is leased under ``item``'s token.

    A lease is held until its token changes: an expired lease may still be acked as long as
    nobody has recovered or re-leased the item, which spares a second upload of work that
    was finished late. Once the item was recovered or leased again, the old token is refused.

    Args:
        queue: the queue's name, for the message.
        item: the snapshot the caller holds.
        status: the stored status, or ``None`` if the item no longer exists.
        token: the stored lease token.
        action: "ack", "nack" or "extend", for the message.
    """
    if status is QueueItemStatus.LEASED and token is not None and token == item.lease_token:
        return
    if status is None:
        why = "it is not in the queue (purged or never existed)"
    elif status is QueueItemStatus.LEASED:
        why = "its lease expired and it was leased again by another consumer"
    elif status is QueueItemStatus.DONE and token == item.lease_token:
        why = "it was already acknowledged"
    else:
        why = f"it is {status.value} now (its lease expired or was given up)"
    msg = f"cannot {action} item {item.id} of queue {queue!r}: {why}; do not retry with it"
    raise LeaseError(msg)


def nack_outcome(
    *,
    attempts: int,
    max_attempts: int,
    dead: bool,
    count: bool = True,
    delay: float | None,
    backoff: Backoff,
    now: float,
) -> tuple[QueueItemStatus, float | None]:
    """Decide where a nacked item goes: ``(DEAD, None)`` or ``(PENDING, not_before)``.

    A nack with ``count=False`` never dead-letters by attempts (only ``dead=True`` does).
    """
    if dead or (count and attempts >= max_attempts):
        return QueueItemStatus.DEAD, None
    if delay is None:
        wait = backoff(attempts)
        delay = check_seconds("the value returned by backoff", wait, positive=False)
    return QueueItemStatus.PENDING, now + delay


def log_recovery(queue: str, dead: int, recovered: int) -> None:
    """Log what a recovery of expired leases did (after it took effect)."""
    if recovered:
        logger.info("queue %r recovered %d expired leases", queue, recovered)
    if dead:
        logger.warning(
            "queue %r dead-lettered %d items whose lease expired on their last attempt",
            queue,
            dead,
        )


def lease_order(item: QueueItem) -> tuple[int, float, int]:
    """Sort key of leasing: highest priority, then longest due, then oldest id."""
    return (-item.priority, item.not_before, item.id)
