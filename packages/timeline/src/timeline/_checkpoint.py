"""Signed tenant checkpoints: a Merkle root over every subject head, signed with Ed25519.

The signing key lives in a file outside the database (``TIMELINE_SIGNING_KEY_FILE``), so a
database-level attacker who rewrites whole chains, heads included, cannot produce a checkpoint
that verifies: later verifications compare each chain with the heads the latest checkpoint
committed to. An exported checkpoint (JSON, with the public key) can be kept elsewhere and
checked against the database at any time.

The Merkle tree follows RFC 6962's domain separation (``0x00`` before a leaf, ``0x01`` before a
node); an odd node is promoted unchanged to the next level.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corekit.files import FileLock, atomic_write
from timeline._canonical import format_time
from timeline._chain import audit
from timeline._models import ChainHead, Checkpoint, CheckpointLeaf, new_id, utcnow
from timeline.errors import NotFoundError, TimelineError

logger = logging.getLogger(__name__)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (PEM, PKCS#8), generated there first if missing.

    Several workers may start at once; a file lock makes them agree on one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock", timeout=30):
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            atomic_write(path, pem)
            os.chmod(path, 0o600)
            logger.info("generated a checkpoint signing key in %s", path)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        msg = f"{path} does not hold an Ed25519 private key; point TIMELINE_SIGNING_KEY_FILE at one"
        raise TimelineError(msg)
    return loaded


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short stable name for a public key (hex of its SHA-256, first 16 bytes)."""
    return hashlib.sha256(public_bytes(key)).hexdigest()[:32]


def leaf_digest(subject_id: str, seq: int, head_hash: str) -> bytes:
    """The Merkle leaf for one subject head."""
    data = rfc8785.dumps({"hash": head_hash, "seq": seq, "subject_id": subject_id})
    return hashlib.sha256(b"\x00" + data).digest()


def merkle_root(leaves: Iterable[bytes]) -> str:
    """The hex Merkle root of ``leaves`` (in subject id order); SHA-256 of nothing if empty."""
    level = list(leaves)
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def signed_message(
    *,
    checkpoint_id: str,
    tenant_id: str,
    created_at: datetime,
    subject_count: int,
    root: str,
    kid: str,
) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return rfc8785.dumps(
        {
            "checkpoint_id": checkpoint_id,
            "created_at": format_time(created_at),
            "key_id": kid,
            "merkle_root": root,
            "subject_count": subject_count,
            "tenant_id": tenant_id,
        }
    )


@dataclass(slots=True)
class CheckpointData:
    """A checkpoint with its leaves, as stored or exported."""

    id: str
    tenant_id: str
    created_at: datetime
    subject_count: int
    merkle_root: str
    key_id: str
    signature: str
    leaves: dict[str, tuple[int, str]] = field(default_factory=dict)

    def export(self, public_key: Ed25519PublicKey | None = None) -> dict[str, Any]:
        """A JSON-ready document that can be checked without the database."""
        doc: dict[str, Any] = {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "created_at": format_time(self.created_at),
            "subject_count": self.subject_count,
            "merkle_root": self.merkle_root,
            "key_id": self.key_id,
            "signature": self.signature,
            "leaves": [
                {"subject_id": s, "seq": seq, "hash": h}
                for s, (seq, h) in sorted(self.leaves.items())
            ],
        }
        if public_key is not None:
            doc["public_key"] = base64.b64encode(public_bytes(public_key)).decode()
        return doc

    @classmethod
    def from_export(cls, doc: dict[str, Any]) -> CheckpointData:
        """Parse what :meth:`export` produced."""
        return cls(
            id=str(doc["id"]),
            tenant_id=str(doc["tenant_id"]),
            created_at=datetime.fromisoformat(str(doc["created_at"])),
            subject_count=int(doc["subject_count"]),
            merkle_root=str(doc["merkle_root"]),
            key_id=str(doc["key_id"]),
            signature=str(doc["signature"]),
            leaves={
                str(leaf["subject_id"]): (int(leaf["seq"]), str(leaf["hash"]))
                for leaf in doc["leaves"]
            },
        )

    def problems(self, public_key: Ed25519PublicKey) -> list[str]:
        """Why this checkpoint cannot be trusted (empty if it can)."""
        found = []
        if self.key_id != key_id(public_key):
            found.append(
                f"signed with key {self.key_id}, not with the configured key {key_id(public_key)}"
            )
        root = merkle_root(leaf_digest(s, seq, h) for s, (seq, h) in sorted(self.leaves.items()))
        if root != self.merkle_root or len(self.leaves) != self.subject_count:
            found.append("its leaves do not produce its Merkle root")
        message = signed_message(
            checkpoint_id=self.id,
            tenant_id=self.tenant_id,
            created_at=self.created_at,
            subject_count=self.subject_count,
            root=self.merkle_root,
            kid=self.key_id,
        )
        try:
            public_key.verify(base64.b64decode(self.signature), message)
        except (InvalidSignature, ValueError):
            found.append("its signature does not verify")
        return found


async def create_checkpoint(
    session: AsyncSession, tenant_id: str, actor: str, key: Ed25519PrivateKey
) -> CheckpointData:
    """Commit to every non-empty chain head of the tenant, sign, store and audit it."""
    stmt = (
        select(ChainHead.subject_id, ChainHead.last_seq, ChainHead.last_hash)
        .where(ChainHead.tenant_id == tenant_id, ChainHead.last_seq > 0)
        .order_by(ChainHead.subject_id)
    )
    leaves = {s: (int(seq), str(h)) for s, seq, h in await session.execute(stmt)}
    root = merkle_root(leaf_digest(s, seq, h) for s, (seq, h) in leaves.items())
    kid = key_id(key.public_key())
    checkpoint_id, created_at = new_id(), utcnow()
    signature = base64.b64encode(
        key.sign(
            signed_message(
                checkpoint_id=checkpoint_id,
                tenant_id=tenant_id,
                created_at=created_at,
                subject_count=len(leaves),
                root=root,
                kid=kid,
            )
        )
    ).decode()
    session.add(
        Checkpoint(
            id=checkpoint_id,
            tenant_id=tenant_id,
            created_at=created_at,
            subject_count=len(leaves),
            merkle_root=root,
            key_id=kid,
            signature=signature,
        )
    )
    await session.flush()
    session.add_all(
        CheckpointLeaf(checkpoint_id=checkpoint_id, subject_id=s, seq=seq, hash=h)
        for s, (seq, h) in leaves.items()
    )
    await audit(
        session,
        tenant_id,
        actor,
        "checkpoint.created",
        checkpoint_id,
        changes={"merkle_root": root},
    )
    data = CheckpointData(checkpoint_id, tenant_id, created_at, len(leaves), root, kid, signature)
    data.leaves = leaves
    return data


async def load_checkpoint(
    session: AsyncSession, tenant_id: str, checkpoint_id: str | None = None
) -> CheckpointData | None:
    """A stored checkpoint with its leaves; the newest when ``checkpoint_id`` is None.

    Raises:
        NotFoundError: ``checkpoint_id`` names no checkpoint of the tenant.
    """
    stmt = select(Checkpoint).where(Checkpoint.tenant_id == tenant_id)
    if checkpoint_id is None:
        stmt = stmt.order_by(Checkpoint.created_at.desc(), Checkpoint.id.desc()).limit(1)
    else:
        stmt = stmt.where(Checkpoint.id == checkpoint_id)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        if checkpoint_id is None:
            return None
        msg = f"checkpoint {checkpoint_id} does not exist in this tenant"
        raise NotFoundError(msg)
    leaves = await session.execute(
        select(CheckpointLeaf.subject_id, CheckpointLeaf.seq, CheckpointLeaf.hash).where(
            CheckpointLeaf.checkpoint_id == row.id
        )
    )
    return CheckpointData(
        row.id,
        row.tenant_id,
        row.created_at,
        row.subject_count,
        row.merkle_root,
        row.key_id,
        row.signature,
        {s: (int(seq), str(h)) for s, seq, h in leaves},
    )
