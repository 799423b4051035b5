"""The S3 document store through the same API, against moto's server on loopback."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from s3_support import MotoS3, chunked_form, eventually, moto_s3, random_bytes, upload
from timeline_support import Service, Tenant, make_settings, migrate, new_tenant
from typer.testing import CliRunner

from corekit.errors import ConfigurationError
from corekit.testing import serve
from timeline import create_app
from timeline.cli import app as cli_app
from timeline.documents._s3 import S3BlobStore
from timeline.documents._storage import DocumentTooLargeError, blob_key
from timeline.settings import Settings

MiB = 1024 * 1024
LIMIT = 13 * MiB


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def s3_docs(
    s3: MotoS3, tmp_path_factory: pytest.TempPathFactory, keys_dir: Path
) -> Iterator[Service]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('s3db') / 'timeline.db'}"
    migrate(url)
    settings = make_settings(url, keys_dir, max_document_bytes=LIMIT, **s3.settings())
    with serve(create_app(settings)) as served:
        yield Service(served.url, settings)


@pytest.fixture
def t(s3_docs: Service) -> Iterator[Tenant]:
    tenant = new_tenant(s3_docs)
    yield tenant
    tenant.http.close()


def created(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_multipart_and_small_uploads_round_trip(t: Tenant, s3: MotoS3) -> None:
    subject = t.subject()
    big = random_bytes(12 * MiB + 7)  # three parts of 5, 5 and 2 MiB
    small = random_bytes(1000)  # one put, no multipart upload
    docs = [created(upload(t.http, subject, content)) for content in (big, small)]
    for doc, content in zip(docs, (big, small), strict=True):
        sha = hashlib.sha256(content).hexdigest()
        assert (doc["sha256"], doc["size"]) == (sha, len(content))
        with t.http.stream("GET", f"/api/v1/documents/{doc['id']}/content") as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(len(content))
            assert b"".join(response.iter_bytes()) == content
    expected = sorted(blob_key(t.id, d["sha256"]) for d in docs)
    assert s3.keys(f"tenants/{t.id}/") == expected
    assert s3.keys(".incoming/") == []
    assert s3.open_uploads() == 0
    duplicate = upload(t.http, t.subject(), big)
    assert duplicate.status_code == 409
    assert duplicate.json()["details"]["document_id"] == docs[0]["id"]
    assert s3.keys(".incoming/") == []
    assert s3.open_uploads() == 0
    assert t.verify_subject(subject)["status"] == "valid"


def test_over_the_limit_aborts_the_multipart_upload(t: Tenant, s3: MotoS3) -> None:
    subject = t.subject()
    body, headers = chunked_form(random_bytes(LIMIT + 10))
    response = t.http.post(f"/api/v1/subjects/{subject}/documents", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "DOCUMENT_TOO_LARGE"
    assert s3.keys(f"tenants/{t.id}/") == []
    assert s3.keys(".incoming/") == []
    assert s3.open_uploads() == 0
    # Far over and streamed: the middleware cuts the stream, the store aborts the upload.
    body, headers = chunked_form(random_bytes(LIMIT + MiB))
    response = t.http.post(f"/api/v1/subjects/{subject}/documents", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "REQUEST_TOO_LARGE"
    assert eventually(lambda: s3.open_uploads() == 0)
    assert s3.keys(f"tenants/{t.id}/") == []
    assert s3.keys(".incoming/") == []


def _verify(s3_docs: Service, s3: MotoS3, code: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in s3.settings().items():
        monkeypatch.setenv(f"TIMELINE_{name.upper()}", str(value))
    return CliRunner().invoke(
        cli_app,
        ["documents", "verify", "--tenant", code, "--database-url", s3_docs.settings.database_url],
    )


def test_verify_catches_changed_and_missing_objects(
    t: Tenant, s3: MotoS3, s3_docs: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = t.subject()
    changed = created(upload(t.http, subject, random_bytes(3000)))
    gone = created(upload(t.http, subject, random_bytes(4000)))
    result = _verify(s3_docs, s3, t.code, monkeypatch)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versions_checked"] == 2
    s3.client.put_object(
        Bucket=s3.bucket, Key=blob_key(t.id, changed["sha256"]), Body=random_bytes(3000)
    )
    s3.client.delete_object(Bucket=s3.bucket, Key=blob_key(t.id, gone["sha256"]))
    result = _verify(s3_docs, s3, t.code, monkeypatch)
    assert result.exit_code == 1
    found = sorted((p["kind"], p["document_id"]) for p in json.loads(result.stdout)["problems"])
    assert found == sorted([("checksum_mismatch", changed["id"]), ("missing_blob", gone["id"])])


def test_server_side_encryption_and_a_prefix(s3: MotoS3) -> None:
    settings = Settings(**s3.settings(s3_server_side_encryption="AES256", s3_prefix="/docs/"))
    store = S3BlobStore.from_settings(settings)
    tenant_id = "a" * 32

    async def chunks(content: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(content), 1 * MiB):
            yield content[start : start + MiB]

    async def run() -> None:
        for content in (random_bytes(100), random_bytes(6 * MiB)):
            blob = await store.write(tenant_id, chunks(content), max_bytes=LIMIT)
            assert blob.created
            head = s3.client.head_object(Bucket=s3.bucket, Key=f"docs/{blob.key}")
            assert head["ServerSideEncryption"] == "AES256"
            assert b"".join([c async for c in store.read(blob.key)]) == content
            again = await store.write(tenant_id, chunks(content), max_bytes=LIMIT)
            assert (again.key, again.created) == (blob.key, False)
            await store.delete(blob.key)
            assert not await store.exists(blob.key)
        with pytest.raises(DocumentTooLargeError):
            await store.write(tenant_id, chunks(random_bytes(6 * MiB)), max_bytes=5 * MiB + 1)
        with pytest.raises(FileNotFoundError):
            await anext(store.read(blob_key(tenant_id, "0" * 64)))
        await store.stop()

    anyio.run(run)
    assert s3.keys("docs/") == []
    assert s3.open_uploads() == 0


def test_misconfiguration_is_named(s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="TIMELINE_S3_BUCKET"):
        create_app(Settings(storage_backend="s3"))
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigurationError, match=r"pip install timeline\[s3\]"):
        create_app(Settings(**s3.settings()))
