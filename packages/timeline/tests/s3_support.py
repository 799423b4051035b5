"""Support for the document tests: multipart upload bodies, and a moto S3 server on loopback."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import httpx2

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BOUNDARY = "timeline-test-boundary-7f3a"


def upload(
    http: httpx2.Client,
    subject_id: str,
    content: bytes,
    filename: str = "report.pdf",
    content_type: str = "application/pdf",
    **fields: str,
) -> httpx2.Response:
    """POST a document to a subject as multipart/form-data (with Content-Length)."""
    return http.post(
        f"/api/v1/subjects/{subject_id}/documents",
        files={"file": (filename, content, content_type)},
        data=fields,
    )


def new_version(
    http: httpx2.Client, document_id: str, content: bytes, filename: str = "report.pdf"
) -> httpx2.Response:
    """POST the next version of a document."""
    return http.post(
        f"/api/v1/documents/{document_id}/versions",
        files={"file": (filename, content, "application/pdf")},
    )


def chunked_form(
    content: bytes, filename: str = "big.bin", chunk: int = 256 * 1024
) -> tuple[Iterator[bytes], dict[str, str]]:
    """A multipart body sent without Content-Length (chunked), and its headers."""

    def body() -> Iterator[bytes]:
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        for start in range(0, len(content), chunk):
            yield content[start : start + chunk]
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return body(), headers


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``check`` holds within ``timeout`` seconds (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def random_bytes(size: int) -> bytes:
    """``size`` random bytes (unique content for every call)."""
    return os.urandom(size)


# --- moto ----------------------------------------------------------------------------------

REGION = "us-east-1"
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"


@dataclass
class MotoS3:
    """A running moto server and a client for it."""

    endpoint: str
    bucket: str
    client: S3Client

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Timeline settings that point the s3 store at this server."""
        values: dict[str, Any] = {
            "storage_backend": "s3",
            "s3_bucket": self.bucket,
            "s3_endpoint_url": self.endpoint,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
            "s3_part_bytes": 5 * 1024 * 1024,
        }
        values.update(overrides)
        return values

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def open_uploads(self) -> int:
        """Multipart uploads started and neither completed nor aborted."""
        answer = self.client.list_multipart_uploads(Bucket=self.bucket)
        return len(answer.get("Uploads", []))


@contextmanager
def moto_s3(bucket: str = "timeline-documents") -> Iterator[MotoS3]:
    """A moto server on 127.0.0.1 (a free port) with ``bucket`` created."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket=bucket)
        yield MotoS3(endpoint, bucket, client)
        client.close()
    finally:
        server.stop()
