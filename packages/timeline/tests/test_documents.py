"""Documents through the API, on both databases, with the local store."""

from __future__ import annotations

import hashlib
import json
import stat
import threading
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from s3_support import chunked_form, eventually, new_version, random_bytes, upload
from timeline_support import Service, Tenant, make_settings, new_tenant, rows, tamper
from typer.testing import CliRunner

from corekit.errors import ConfigurationError
from corekit.testing import serve
from timeline import create_app
from timeline._middleware import UPLOAD_ALLOWANCE, BodySizeLimitMiddleware
from timeline.cli import app as cli_app
from timeline.documents._local import LocalBlobStore
from timeline.documents._routes import content_disposition
from timeline.documents._storage import StorageUnavailableError
from timeline.documents._upload import MultipartUpload

MiB = 1024 * 1024
LIMIT = 4 * MiB


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def docs(database_url: str, keys_dir: Path, store_root: Path) -> Iterator[Service]:
    """A service whose documents may be 4 MiB while other requests stay at 1 MiB."""
    settings = make_settings(
        database_url, keys_dir, storage_root=store_root, max_document_bytes=LIMIT
    )
    assert settings.max_request_bytes == MiB
    with serve(create_app(settings)) as served:
        yield Service(served.url, settings)


@pytest.fixture
def t(docs: Service) -> Iterator[Tenant]:
    tenant = new_tenant(docs)
    yield tenant
    tenant.http.close()


def blobs(root: Path, tenant_id: str) -> list[Path]:
    return sorted(p for p in (root / "tenants" / tenant_id).rglob("*") if p.is_file())


def incoming(root: Path) -> list[Path]:
    return list((root / ".incoming").iterdir())


def created(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_upload_bigger_than_the_request_limit_streams_and_downloads(
    t: Tenant, store_root: Path
) -> None:
    subject = t.subject()
    content = random_bytes(3 * MiB + 123)
    sha = hashlib.sha256(content).hexdigest()
    doc = created(upload(t.http, subject, content, "Q3 report.pdf", title="Quarter"))
    assert doc["subject_id"] == subject
    assert (doc["version"], doc["latest_version"], doc["size"]) == (1, 1, len(content))
    assert (doc["sha256"], doc["filename"], doc["title"]) == (sha, "Q3 report.pdf", "Quarter")
    assert doc["content_type"] == "application/pdf"
    assert doc["created_by"] == f"user:{t.admin_id}"
    assert doc["event_id"] is None
    # Content-addressed under the tenant, 0640 in 0750 directories, nothing left incoming.
    path = store_root / "tenants" / t.id / "sha256" / sha[:2] / sha
    assert blobs(store_root, t.id) == [path]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    assert incoming(store_root) == []

    with t.http.stream("GET", f"/api/v1/documents/{doc['id']}/content") as response:
        assert response.status_code == 200
        received = b"".join(response.iter_bytes())
        headers = response.headers
    assert received == content
    assert headers["content-length"] == str(len(content))
    assert headers["content-type"] == "application/pdf"
    assert headers["etag"] == f'"{sha}"'
    assert headers["content-disposition"] == (
        "attachment; filename=\"Q3 report.pdf\"; filename*=UTF-8''Q3%20report.pdf"
    )
    again = t.http.get(
        f"/api/v1/documents/{doc['id']}/content", headers={"If-None-Match": f'"{sha}"'}
    )
    assert again.status_code == 304
    assert again.content == b""

    # The upload is a chained event carrying the checksum, and the chain verifies.
    event = t.http.get(f"/api/v1/events/{doc['upload_event_id']}").json()
    assert event["event_type"] == "document_uploaded"
    assert event["subject_id"] == subject
    assert event["payload"] == {
        "document_id": doc["id"],
        "version": 1,
        "sha256": sha,
        "size": len(content),
        "filename": "Q3 report.pdf",
        "content_type": "application/pdf",
        "event_id": None,
    }
    assert t.verify_subject(subject)["status"] == "valid"


def test_a_chunked_upload_streams_too(t: Tenant) -> None:
    subject = t.subject()
    content = random_bytes(2 * MiB)
    body, headers = chunked_form(content)
    response = t.http.post(f"/api/v1/subjects/{subject}/documents", content=body, headers=headers)
    doc = created(response)
    assert doc["size"] == len(content)
    assert t.http.get(f"/api/v1/documents/{doc['id']}/content").content == content


def test_over_the_limit_is_413_and_leaves_nothing(t: Tenant, store_root: Path) -> None:
    subject = t.subject()
    # Announced and far over: the middleware refuses it before reading.
    far = upload(t.http, subject, random_bytes(LIMIT + MiB))
    assert far.status_code == 413
    assert far.json()["error"] == "REQUEST_TOO_LARGE"
    assert "TIMELINE_MAX_DOCUMENT_BYTES" in far.json()["message"]
    # Just over, and streamed without a length: the store refuses it while writing.
    body, headers = chunked_form(random_bytes(LIMIT + 10))
    near = t.http.post(f"/api/v1/subjects/{subject}/documents", content=body, headers=headers)
    assert near.status_code == 413, near.text
    assert near.json()["error"] == "DOCUMENT_TOO_LARGE"
    assert near.json()["details"] == {"limit": LIMIT}
    # Streamed without a length and far over: cut off by whichever limit sees it first, the
    # middleware's (document limit plus form allowance) or the store's (the document itself);
    # which one depends on how the chunks arrive, and both answer 413 and store nothing.
    body, headers = chunked_form(random_bytes(LIMIT + MiB))
    cut = t.http.post(f"/api/v1/subjects/{subject}/documents", content=body, headers=headers)
    assert cut.status_code == 413, cut.text
    assert cut.json()["error"] in {"REQUEST_TOO_LARGE", "DOCUMENT_TOO_LARGE"}
    # The 413 goes out as the limit is crossed; the route cleans up right after.
    assert eventually(lambda: incoming(store_root) == [])
    assert blobs(store_root, t.id) == []
    assert t.http.get(f"/api/v1/subjects/{subject}/documents").json()["total"] == 0
    # Exactly the limit is accepted, and other routes keep the 1 MiB request limit.
    created(upload(t.http, subject, random_bytes(LIMIT)))
    big_event = t.http.post(
        f"/api/v1/subjects/{subject}/events",
        content=b"x" * (MiB + 1),
        headers={"Content-Type": "application/json"},
    )
    assert big_event.status_code == 413
    assert "TIMELINE_MAX_REQUEST_BYTES" in big_event.json()["message"]


def test_duplicates_are_refused_and_stored_once(t: Tenant, store_root: Path) -> None:
    first, second = t.subject(), t.subject()
    content = random_bytes(10_000)
    doc = created(upload(t.http, first, content))
    for subject in (first, second):
        duplicate = upload(t.http, subject, content, "copy.pdf")
        assert duplicate.status_code == 409
        body = duplicate.json()
        assert body["error"] == "DUPLICATE_DOCUMENT"
        assert body["details"] == {"document_id": doc["id"]}
        assert doc["id"] in body["message"]
    assert len(blobs(store_root, t.id)) == 1
    assert t.http.get(f"/api/v1/subjects/{second}/documents").json()["total"] == 0
    # Another tenant may hold the same content: duplicates are per tenant.
    other = new_tenant(t.service)
    try:
        created(upload(other.http, other.subject(), content))
    finally:
        other.http.close()


def test_concurrent_uploads_of_the_same_content_give_one_document(t: Tenant) -> None:
    subjects = [t.subject() for _ in range(4)]
    content = random_bytes(300_000)
    results: list[httpx2.Response] = []
    lock = threading.Lock()

    def send(subject: str) -> None:
        with t.service.client(Authorization=t.http.headers["Authorization"]) as http:
            response = upload(http, subject, content)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send, args=(s,)) for s in subjects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409], [r.text for r in results]
    winner = next(r.json()["id"] for r in results if r.status_code == 201)
    assert all(
        r.json()["details"]["document_id"] == winner for r in results if r.status_code == 409
    )


def test_versions(t: Tenant, store_root: Path) -> None:
    subject = t.subject()
    v1_content, v2_content = random_bytes(5000), random_bytes(6000)
    v1 = created(upload(t.http, subject, v1_content, "plan.txt", "text/plain"))
    v2 = created(new_version(t.http, v1["id"], v2_content, "plan-v2.txt"))
    assert (v2["id"], v2["version"], v2["latest_version"]) == (v1["id"], 2, 2)
    assert v2["subject_id"] == subject
    latest = t.http.get(f"/api/v1/documents/{v1['id']}").json()
    assert (latest["version"], latest["filename"]) == (2, "plan-v2.txt")
    old = t.http.get(f"/api/v1/documents/{v1['id']}", params={"version": 1}).json()
    assert (old["version"], old["latest_version"], old["sha256"]) == (1, 2, v1["sha256"])
    assert t.http.get(f"/api/v1/documents/{v1['id']}", params={"version": 3}).status_code == 404
    content = f"/api/v1/documents/{v1['id']}/content"
    assert t.http.get(content).content == v2_content
    assert t.http.get(content, params={"version": 1}).content == v1_content
    # The same content twice in a row is a duplicate; an earlier version's content may return.
    same = new_version(t.http, v1["id"], v2_content)
    assert same.status_code == 409
    assert same.json()["details"]["document_id"] == v1["id"]
    v3 = created(new_version(t.http, v1["id"], v1_content))
    assert (v3["version"], v3["sha256"]) == (3, v1["sha256"])
    assert len(blobs(store_root, t.id)) == 2
    page = t.http.get(f"/api/v1/documents/{v1['id']}/versions", params={"limit": 2}).json()
    assert [v["version"] for v in page["items"]] == [1, 2]
    assert page["total"] == 3
    rest = t.http.get(
        f"/api/v1/documents/{v1['id']}/versions", params={"cursor": page["next_cursor"]}
    ).json()
    assert [v["version"] for v in rest["items"]] == [3]
    assert rest["next_cursor"] is None
    listing = t.http.get(f"/api/v1/subjects/{subject}/documents").json()
    assert [(d["id"], d["version"]) for d in listing["items"]] == [(v1["id"], 3)]
    events = t.http.get(f"/api/v1/subjects/{subject}/events", params={"order": "chain"}).json()
    uploaded = [e["payload"]["version"] for e in events["items"]]
    assert uploaded == [1, 2, 3]
    assert t.verify_subject(subject)["status"] == "valid"


def test_soft_delete_then_upload_again(t: Tenant) -> None:
    subject = t.subject()
    content = random_bytes(4000)
    doc = created(upload(t.http, subject, content))
    agent = t.user("clerk", roles=["agent"])
    refused = agent.delete(f"/api/v1/documents/{doc['id']}")
    assert refused.status_code == 403
    agent.close()
    deleted = t.http.delete(f"/api/v1/documents/{doc['id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted_at"] is not None
    for path in ("", "/content", "/versions"):
        assert t.http.get(f"/api/v1/documents/{doc['id']}{path}").status_code == 404
    assert t.http.delete(f"/api/v1/documents/{doc['id']}").status_code == 404
    assert new_version(t.http, doc["id"], random_bytes(10)).status_code == 404
    assert t.http.get(f"/api/v1/subjects/{subject}/documents").json()["total"] == 0
    again = created(upload(t.http, subject, content))
    assert again["id"] != doc["id"]
    assert t.http.get(f"/api/v1/documents/{again['id']}/content").content == content
    events = t.http.get(f"/api/v1/subjects/{subject}/events", params={"order": "chain"}).json()
    types = [e["event_type"] for e in events["items"]]
    assert types == ["document_uploaded", "document_deleted", "document_uploaded"]
    assert events["items"][1]["payload"] == {
        "document_id": doc["id"],
        "latest_version": 1,
        "deleted_by": f"user:{t.admin_id}",
    }
    assert t.verify_subject(subject)["status"] == "valid"


def test_a_client_filename_is_metadata_only(t: Tenant, store_root: Path) -> None:
    subject = t.subject()
    content = random_bytes(1000)
    doc = created(upload(t.http, subject, content, "../../etc/passwd", "text/plain"))
    assert doc["filename"] == "../../etc/passwd"
    sha = doc["sha256"]
    assert blobs(store_root, t.id) == [store_root / "tenants" / t.id / "sha256" / sha[:2] / sha]
    assert not (store_root.parent / "etc").exists()
    assert not (store_root / "etc").exists()
    response = t.http.get(f"/api/v1/documents/{doc['id']}/content")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
    )
    odd = created(upload(t.http, subject, random_bytes(10), "naïve résumé.txt", "bad type"))
    assert odd["content_type"] == "application/octet-stream"
    disposition = t.http.get(f"/api/v1/documents/{odd['id']}/content").headers[
        "content-disposition"
    ]
    assert disposition == (
        'attachment; filename="na_ve r_sum_.txt"; '
        "filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt"
    )


@pytest.mark.parametrize(
    ("stored", "header"),
    [
        ('a "b".txt', "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"),
        ("dir\\x.bin", "attachment; filename=\"x.bin\"; filename*=UTF-8''x.bin"),
        ("50%\r\n.txt", "attachment; filename=\"50___.txt\"; filename*=UTF-8''50%25%0D%0A.txt"),
        ("../", "attachment; filename=\"document\"; filename*=UTF-8''document"),
    ],
)
def test_content_disposition_is_always_safe(stored: str, header: str) -> None:
    assert content_disposition(stored) == header


def test_linking_an_event(t: Tenant) -> None:
    t.schema()
    subject, elsewhere = t.subject(), t.subject()
    event = t.append(subject)
    foreign = t.append(elsewhere)
    doc = created(upload(t.http, subject, random_bytes(100), event_id=event["id"]))
    assert doc["event_id"] == event["id"]
    uploaded = t.http.get(f"/api/v1/events/{doc['upload_event_id']}").json()
    assert uploaded["payload"]["event_id"] == event["id"]
    wrong = upload(t.http, subject, random_bytes(100), event_id=foreign["id"])
    assert wrong.status_code == 422
    assert foreign["id"] in wrong.json()["message"]
    malformed = upload(t.http, subject, random_bytes(100), event_id="../x")
    assert malformed.status_code == 422


def test_bad_forms_get_clear_errors(t: Tenant, store_root: Path) -> None:
    subject = t.subject()
    url = f"/api/v1/subjects/{subject}/documents"
    not_form = t.http.post(url, json={"file": "x"})
    assert not_form.status_code == 422
    assert "multipart/form-data" in not_form.json()["message"]
    no_file = t.http.post(url, files={"title": (None, "x")})
    assert no_file.status_code == 422
    assert "'file'" in no_file.json()["message"]
    unknown = t.http.post(url, files={"file": ("a", b"abc"), "owner": (None, "me")})
    assert unknown.status_code == 422
    assert "owner" in unknown.json()["message"]
    empty = upload(t.http, subject, b"")
    assert empty.status_code == 422
    assert "empty" in empty.json()["message"]
    long_title = upload(t.http, subject, random_bytes(10), title="x" * 501)
    assert long_title.status_code == 422
    twice = t.http.post(url, files=[("file", ("a", b"abc")), ("file", ("b", b"def"))])
    assert twice.status_code == 422
    assert "exactly one file" in twice.json()["message"]
    body, headers = chunked_form(random_bytes(1000))
    cut = t.http.post(url, content=list(body)[:-1], headers=headers)
    assert cut.status_code == 422
    assert "closing boundary" in cut.json()["message"]
    assert blobs(store_root, t.id) == []
    assert incoming(store_root) == []


def test_another_tenant_sees_nothing(t: Tenant, docs: Service) -> None:
    subject = t.subject()
    doc = created(upload(t.http, subject, random_bytes(500)))
    other = new_tenant(docs)
    try:
        for method, path in [
            ("GET", f"/api/v1/documents/{doc['id']}"),
            ("GET", f"/api/v1/documents/{doc['id']}/content"),
            ("GET", f"/api/v1/documents/{doc['id']}/versions"),
            ("DELETE", f"/api/v1/documents/{doc['id']}"),
            ("GET", f"/api/v1/subjects/{subject}/documents"),
        ]:
            assert other.http.request(method, path).status_code == 404, path
        assert new_version(other.http, doc["id"], random_bytes(10)).status_code == 404
        assert upload(other.http, subject, random_bytes(10)).status_code == 404
        assert other.http.post("/api/v1/documents/verify").json()["versions_checked"] == 0
    finally:
        other.http.close()
    assert t.http.get(f"/api/v1/documents/{doc['id']}").status_code == 200


def _verify_cli(
    docs: Service, store_root: Path, code: str | None, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("TIMELINE_STORAGE_ROOT", str(store_root))
    tenant = ["--tenant", code] if code is not None else []
    result = CliRunner().invoke(
        cli_app,
        ["documents", "verify", *tenant, "--database-url", docs.settings.database_url],
    )
    return result.exit_code, json.loads(result.stdout)


def test_verify_catches_a_changed_blob_and_a_changed_row(
    t: Tenant, docs: Service, store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = t.subject()
    content = random_bytes(200_000)
    doc = created(upload(t.http, subject, content))
    kept = created(upload(t.http, subject, random_bytes(1000)))
    code, report = _verify_cli(docs, store_root, t.code, monkeypatch)
    assert (code, report["status"], report["versions_checked"]) == (0, "valid", 2)
    assert report["bytes_checked"] == 201_000

    # Same size, one byte changed: the download is cut short and verification names it.
    path = store_root / "tenants" / t.id / "sha256" / doc["sha256"][:2] / doc["sha256"]
    path.write_bytes(b"\x00" + content[1:])
    with pytest.raises(httpx2.HTTPError):
        t.http.get(f"/api/v1/documents/{doc['id']}/content")
    code, report = _verify_cli(docs, store_root, t.code, monkeypatch)
    assert code == 1
    assert report["status"] == "invalid"
    (problem,) = report["problems"]
    assert problem["kind"] == "checksum_mismatch"
    assert (problem["document_id"], problem["version"]) == (doc["id"], 1)
    api = t.http.post("/api/v1/documents/verify").json()
    assert [p["document_id"] for p in api["problems"]] == [doc["id"]]
    code, everyone = _verify_cli(docs, store_root, None, monkeypatch)
    assert code == 1
    assert problem in everyone["problems"]
    assert everyone["versions_checked"] >= report["versions_checked"]

    # A blob gone, and a row changed behind the service's back.
    path.unlink()
    tamper(
        docs.settings.database_url,
        (
            "UPDATE document_version SET filename = 'forged.pdf' WHERE document_id = :d",
            {"d": kept["id"]},
        ),
        bypass=False,
    )
    code, report = _verify_cli(docs, store_root, t.code, monkeypatch)
    assert code == 1
    found = sorted((p["kind"], p["document_id"]) for p in report["problems"])
    assert found == sorted([("missing_blob", doc["id"]), ("row_event_mismatch", kept["id"])])
    missing = t.http.get(f"/api/v1/documents/{doc['id']}/content")
    assert missing.status_code == 500
    assert missing.json()["error"] == "DOCUMENT_CONTENT_MISSING"


def test_verify_cli_names_an_unknown_tenant(
    docs: Service, store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMELINE_STORAGE_ROOT", str(store_root))
    result = CliRunner().invoke(
        cli_app,
        ["documents", "verify", "--tenant", "nope", "--database-url", docs.settings.database_url],
    )
    assert result.exit_code == 2
    assert "no tenant with code 'nope'" in result.stderr


def test_the_rows_reference_their_events(t: Tenant, docs: Service) -> None:
    doc = created(upload(t.http, t.subject(), random_bytes(64)))
    (row,) = rows(
        docs.settings.database_url,
        "SELECT upload_event_id, sha256, created_by FROM document_version WHERE document_id = :d",
        d=doc["id"],
    )
    assert row == {
        "upload_event_id": doc["upload_event_id"],
        "sha256": doc["sha256"],
        "created_by": f"user:{t.admin_id}",
    }


def test_the_form_reader_hands_on_the_file_as_it_arrives() -> None:
    content = random_bytes(8 * MiB)
    body, headers = chunked_form(content, chunk=64 * 1024)

    async def run() -> tuple[list[int], bytes, MultipartUpload]:
        async def stream() -> AsyncIterator[bytes]:
            for chunk in body:
                yield chunk

        form = MultipartUpload(headers["Content-Type"], stream(), {"title": 10})
        sizes: list[int] = []
        digest = hashlib.sha256()
        async for piece in form.file_chunks():
            sizes.append(len(piece))
            digest.update(piece)
        return sizes, digest.digest(), form

    sizes, digest, form = anyio.run(run)
    assert digest == hashlib.sha256(content).digest()
    assert sum(sizes) == len(content)
    # Never more than one input chunk at a time, plus the few bytes the parser holds back
    # when a chunk ends in what might be the start of the boundary.
    assert max(sizes) <= 64 * 1024 + 100
    assert (form.filename, form.content_type) == ("big.bin", "application/octet-stream")


def test_the_local_store_refuses_paths_that_leave_its_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    store = LocalBlobStore(root)
    tenant_id = "b" * 32

    async def chunks() -> AsyncIterator[bytes]:
        yield b"content"

    async def run() -> None:
        await store.start()
        (root / "tenants").mkdir()
        (root / "tenants" / tenant_id).symlink_to(outside)  # planted by someone with access
        with pytest.raises(StorageUnavailableError, match="outside TIMELINE_STORAGE_ROOT"):
            await store.write(tenant_id, chunks(), max_bytes=100)
        with pytest.raises(StorageUnavailableError):
            store.path_of("../escape")

    anyio.run(run)
    assert list(outside.iterdir()) == []
    assert list((root / ".incoming").iterdir()) == []
    blocked = LocalBlobStore(tmp_path / "a-file" / "store")
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(ConfigurationError, match="TIMELINE_STORAGE_ROOT"):
        anyio.run(blocked.start)


def _call(
    middleware: BodySizeLimitMiddleware, method: str, path: str, size: int
) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    body = [{"type": "http.request", "body": b"x" * size, "more_body": False}]

    async def receive() -> MutableMapping[str, Any]:
        return body.pop(0) if body else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "headers": []}
    anyio.run(middleware, scope, receive, send)
    status = int(sent[0]["status"])
    return status, (json.loads(sent[1]["body"]) if status == 413 else {})


def test_the_body_limit_middleware_takes_an_explicit_upload_limit() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = BodySizeLimitMiddleware(app, limit=1024, upload_limit=4096)
    upload_path = f"/api/v1/subjects/{'a' * 32}/documents"
    version_path = f"/api/v1/documents/{'a' * 32}/versions"
    assert _call(middleware, "POST", upload_path, 4096 + UPLOAD_ALLOWANCE)[0] == 200
    assert _call(middleware, "POST", version_path, 4096 + UPLOAD_ALLOWANCE)[0] == 200
    status, body = _call(middleware, "POST", upload_path, 4096 + UPLOAD_ALLOWANCE + 1)
    assert status == 413
    assert "TIMELINE_MAX_DOCUMENT_BYTES" in body["message"]
    # Every other route, and other methods on the upload paths, keep the request limit.
    for method, path in [("POST", "/api/v1/subjects"), ("GET", upload_path)]:
        status, body = _call(middleware, method, path, 1025)
        assert status == 413
        assert "TIMELINE_MAX_REQUEST_BYTES" in body["message"]
