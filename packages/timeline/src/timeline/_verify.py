"""Chain verification: streaming, keyset-paginated, bounded in memory, with reason codes.

Each subject's events are read in pages ordered by (seq, id) and checked one at a time against
the one before (never all in memory). Every finding names the subject, the first offending
``seq`` and a reason code:

``HASH_MISMATCH``      a hashed field changed (payload, time, type, version, ids, seq, tenant)
``GENESIS_ERROR``      the first event is not seq 1 with no previous hash, or a second genesis
``GAP``                a seq is missing
``CHAIN_BREAK``        ``prev_hash`` is not the previous event's hash
``FORK``               two events share a seq or a previous hash
``TRUNCATED``          events the head record or a checkpoint committed to are gone
``HEAD_MISMATCH``      the chain ends elsewhere than its head record says
``CHECKPOINT_MISMATCH`` an event differs from the one a checkpoint committed to
``CHECKPOINT_INVALID`` the checkpoint itself fails its signature or Merkle root

A result is ``valid`` only when every chain asked for was read to its end with no finding; a
verification stopped by ``max_events`` says ``partial`` and where to resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from hashlib import sha256
from json.encoder import encode_basestring
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline._canonical import envelope_hash, envelope_tail, format_time
from timeline._checkpoint import CheckpointData
from timeline._models import ChainHead, Event, Subject

Code = Literal[
    "HASH_MISMATCH",
    "GENESIS_ERROR",
    "GAP",
    "CHAIN_BREAK",
    "FORK",
    "TRUNCATED",
    "HEAD_MISMATCH",
    "CHECKPOINT_MISMATCH",
    "CHECKPOINT_INVALID",
]

_COLUMNS = (
    Event.id,
    Event.event_time,
    Event.event_type,
    Event.payload,
    Event.prev_hash,
    Event.schema_version,
    Event.seq,
    Event.subject_id,
    Event.tenant_id,
    Event.hash,
)

# Times outside what a Python datetime can hold (or infinities) cannot have been hashed; they
# get a text no formatted time equals, so the event is a hash mismatch. The inner query picks
# the page (an index scan on (subject_id, seq) plus an incremental sort by id); the outer one
# formats only the page's times, not those of every row the planner looked at.
_PG_PAGE = """
SELECT id,
       CASE WHEN event_time >= '0001-01-01T00:00:00Z' AND event_time < '10000-01-01T00:00:00Z'
            THEN to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            ELSE 'out of range' END,
       event_type, payload, prev_hash, schema_version, seq, subject_id, tenant_id, hash
FROM (SELECT * FROM event
      WHERE subject_id = $1 AND (seq, id) > ($2::bigint, $3::varchar)
      ORDER BY seq, id
      LIMIT $4) AS page
ORDER BY seq, id
"""


def _with_time_text(row: Any) -> tuple[Any, ...]:
    return (row[0], format_time(row[1]), *row[2:])


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where the chain first goes wrong, and why."""

    code: Code
    subject_id: str | None
    seq: int | None
    event_id: str | None
    message: str


@dataclass(slots=True)
class VerificationResult:
    """The outcome of a verification.

    ``status`` is ``valid`` (complete, no finding), ``invalid`` (at least one finding) or
    ``partial`` (no finding so far, but not everything was read: see ``resume_after``).
    """

    status: Literal["valid", "invalid", "partial"]
    complete: bool
    subjects_checked: int
    events_checked: int
    findings: list[Finding]
    findings_truncated: bool
    checkpoint_id: str | None
    resume_after: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class Verifier:
    """Verifies chains of one tenant and collects findings.

    Args:
        session: a session in a read transaction.
        tenant_id: the tenant whose chains are checked.
        page_size: events per query.
        max_events: stop (partial) after this many events; ``None`` for no limit.
        checkpoint: heads the chains must still contain (checked with ``public_key``).
        public_key: the checkpoint signing key's public half.
        max_findings: findings kept in the result (the rest are counted as truncated).
    """

    session: AsyncSession
    tenant_id: str
    page_size: int = 1000
    max_events: int | None = None
    checkpoint: CheckpointData | None = None
    public_key: Ed25519PublicKey | None = None
    max_findings: int = 1000
    findings: list[Finding] = field(default_factory=list)
    findings_truncated: bool = False
    subjects_checked: int = 0
    events_checked: int = 0
    stopped_at: str | None = None
    _trusted: dict[str, tuple[int, str]] | None = None
    _generic_plans: bool = False

    def __post_init__(self) -> None:
        if self.checkpoint is None:
            return
        problems = (
            ["no public key to check it with"]
            if self.public_key is None
            else self.checkpoint.problems(self.public_key)
        )
        if self.checkpoint.tenant_id != self.tenant_id:
            problems.append("it belongs to another tenant")
        if problems:
            self._add("CHECKPOINT_INVALID", None, None, None, "; ".join(problems))
        else:
            self._trusted = self.checkpoint.leaves

    def _add(
        self, code: Code, subject: str | None, seq: int | None, event: str | None, message: str
    ) -> None:
        if len(self.findings) >= self.max_findings:
            self.findings_truncated = True
            return
        self.findings.append(Finding(code, subject, seq, event, message))

    def exhausted(self) -> bool:
        """Whether ``max_events`` stopped the verification."""
        return self.stopped_at is not None

    async def subject(self, subject_id: str) -> None:
        """Verify one subject's chain (of this tenant) to its end, or to ``max_events``."""
        if self.exhausted():
            return
        head = (
            await self.session.execute(
                select(ChainHead.last_seq, ChainHead.last_hash).where(
                    ChainHead.subject_id == subject_id
                )
            )
        ).first()
        leaf = self._trusted.get(subject_id) if self._trusted is not None else None
        tenant_id, limit = self.tenant_id, self.max_events
        # Locals for the per-event loop; the envelope's end is the same for the whole chain.
        sha, text = sha256, encode_basestring
        tail = envelope_tail(subject_id, tenant_id)
        leaf_seq = -1 if leaf is None else leaf[0]
        prev: Any = None
        prev_seq, prev_digest = 0, None
        async with aclosing(self._pages(subject_id)) as pages:
            async for rows in pages:
                for row in rows:
                    if limit is not None and self.events_checked >= limit:
                        self.stopped_at = subject_id
                        return
                    self.events_checked += 1
                    event_id, time_text, event_type, payload, prev_hash, version, seq = row[:7]
                    # The common case inline (the next link, a matching hash, no checkpoint
                    # leaf), the envelope built as envelope_hash builds it; anything else goes
                    # through _check, which names what is wrong.
                    ok = (
                        prev_hash is not None
                        and prev_hash == prev_digest
                        and seq == prev_seq + 1
                        and row[7] == subject_id
                        and row[8] == tenant_id
                        and seq != leaf_seq
                        and sha(
                            f'{{"event_id":{text(event_id)},"event_time":"{time_text}",'
                            f'"event_type":{text(event_type)},"payload":{payload},'
                            f'"prev_hash":{text(prev_hash)},"schema_version":{version:d},'
                            f'"seq":{seq:d}{tail}'.encode()
                        ).hexdigest()
                        == row[9]
                    )
                    if not ok:
                        self._check(subject_id, row, prev, leaf)
                    prev, prev_seq, prev_digest = row, seq, row[9]
        self.subjects_checked += 1
        self._ends(subject_id, prev, head, leaf)

    async def _pages(self, subject_id: str) -> AsyncGenerator[Sequence[Any], None]:
        """The subject's events in (seq, id) order, a page at a time.

        Rows are (event_id, event_time text, event_type, payload, prev_hash, schema_version,
        seq, subject_id, tenant_id, hash): :func:`envelope_hash`'s arguments, then the hash.
        """
        conn = await self.session.connection()
        size = self.page_size
        if conn.dialect.name == "postgresql":
            # asyncpg directly, with the time formatted by the server: SQLAlchemy's result
            # processing and Python's datetime formatting would cost more than the hash.
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            if not self._generic_plans:
                # Without statistics (a chain just loaded, before autovacuum analyses it) a
                # custom plan expects a few rows per subject and sorts every remaining event
                # for each page. The generic plan walks the (subject_id, seq) index whatever
                # the statistics say. Local: it ends with this read transaction.
                await raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                self._generic_plans = True
            statement = await raw.prepare(_PG_PAGE)
            rows = await statement.fetch(subject_id, -1, "", size)
            while len(rows) == size:
                # Ask for the next page before checking this one, so the database works on
                # it meanwhile (one query in flight on the connection at any time).
                ahead = asyncio.ensure_future(
                    statement.fetch(subject_id, rows[-1][6], rows[-1][0], size)
                )
                try:
                    yield rows
                except GeneratorExit:
                    await ahead  # stopped early: leave the connection with nothing in flight
                    raise
                rows = await ahead
            yield rows
            return
        stmt = select(*_COLUMNS).where(Event.subject_id == subject_id)
        prev = None
        while True:
            query = stmt
            if prev is not None:
                query = stmt.where(
                    or_(Event.seq > prev[6], and_(Event.seq == prev[6], Event.id > prev[0]))
                )
            page = [
                _with_time_text(r)
                for r in await conn.execute(query.order_by(Event.seq, Event.id).limit(size))
            ]
            yield page
            if len(page) < size:
                return
            prev = page[-1]

    def _check(self, subject_id: str, row: Any, prev: Any, leaf: tuple[int, str] | None) -> None:
        event_id, prev_hash, seq, tenant_id, digest = row[0], row[4], row[6], row[8], row[9]
        if envelope_hash(*row[:9]) != digest or tenant_id != self.tenant_id:
            self._add(
                "HASH_MISMATCH",
                subject_id,
                seq,
                event_id,
                "the stored hash does not match the event's content",
            )
        if prev is None:
            if seq != 1 or prev_hash is not None:
                self._add(
                    "GENESIS_ERROR",
                    subject_id,
                    seq,
                    event_id,
                    "the chain does not start with seq 1 and no previous hash",
                )
        elif prev_hash == prev[9] and seq == prev[6] + 1:
            pass  # the common case: the next link
        elif seq == prev[6] or (prev_hash is not None and prev_hash == prev[4]):
            self._add(
                "FORK",
                subject_id,
                seq,
                event_id,
                f"events {prev[0]} and {event_id} both claim seq {seq} or the same predecessor",
            )
        elif seq != prev[6] + 1:
            self._add("GAP", subject_id, prev[6] + 1, event_id, f"seq {prev[6] + 1} is missing")
        elif prev_hash is None:
            self._add(
                "GENESIS_ERROR", subject_id, seq, event_id, "a second genesis inside the chain"
            )
        else:
            self._add(
                "CHAIN_BREAK",
                subject_id,
                seq,
                event_id,
                "prev_hash is not the hash of the previous event",
            )
        if leaf is not None and seq == leaf[0] and digest != leaf[1]:
            self._add(
                "CHECKPOINT_MISMATCH",
                subject_id,
                seq,
                event_id,
                "the event differs from the one the checkpoint committed to",
            )

    def _ends(self, subject_id: str, last: Any, head: Any, leaf: tuple[int, str] | None) -> None:
        last_seq = 0 if last is None else int(last[6])
        last_hash = None if last is None else last[9]
        if head is not None and head.last_seq > last_seq:
            self._add(
                "TRUNCATED",
                subject_id,
                last_seq + 1,
                None,
                f"the head record says the chain ends at seq {head.last_seq}, "
                f"but it ends at {last_seq}",
            )
        elif head is not None and (head.last_seq != last_seq or head.last_hash != last_hash):
            self._add(
                "HEAD_MISMATCH",
                subject_id,
                last_seq,
                None if last is None else last[0],
                f"the chain ends at seq {last_seq}, the head record at seq {head.last_seq}",
            )
        if leaf is not None and leaf[0] > last_seq:
            self._add(
                "TRUNCATED",
                subject_id,
                last_seq + 1,
                None,
                f"the checkpoint committed to seq {leaf[0]}, but the chain ends at {last_seq}",
            )

    async def tenant(self, after_subject: str | None = None) -> None:
        """Verify every subject of the tenant in id order, starting after ``after_subject``."""
        seen_from_checkpoint: set[str] = set()
        last = after_subject
        while not self.exhausted():
            stmt = select(Subject.id).where(Subject.tenant_id == self.tenant_id)
            if last is not None:
                stmt = stmt.where(Subject.id > last)
            ids = (await self.session.execute(stmt.order_by(Subject.id).limit(500))).scalars().all()
            for subject_id in ids:
                await self.subject(subject_id)
                if self.exhausted():
                    return
                seen_from_checkpoint.add(subject_id)
                last = subject_id
            if len(ids) < 500:
                break
        if self._trusted is not None and after_subject is None:
            for subject_id in sorted(set(self._trusted) - seen_from_checkpoint):
                self._add(
                    "TRUNCATED",
                    subject_id,
                    1,
                    None,
                    "a subject the checkpoint committed to no longer exists",
                )

    def result(self) -> VerificationResult:
        """The outcome so far."""
        complete = not self.exhausted()
        status: Literal["valid", "invalid", "partial"]
        if self.findings or self.findings_truncated:
            status = "invalid"
        else:
            status = "valid" if complete else "partial"
        return VerificationResult(
            status=status,
            complete=complete,
            subjects_checked=self.subjects_checked,
            events_checked=self.events_checked,
            findings=self.findings,
            findings_truncated=self.findings_truncated,
            checkpoint_id=None if self.checkpoint is None else self.checkpoint.id,
            resume_after=self.stopped_at_resume(),
        )

    def stopped_at_resume(self) -> str | None:
        """The subject after which a follow-up verification should start, when partial."""
        if self.stopped_at is None:
            return None
        return self._previous_of(self.stopped_at)

    def _previous_of(self, subject_id: str) -> str:
        # Subject ids are 32 hex digits; the id just below lets `tenant(after)` re-check it.
        return format(int(subject_id, 16) - 1, "032x") if subject_id.strip("0") else subject_id
