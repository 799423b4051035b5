"""A real dovecot IMAP server on loopback for the e-mail tests (one per test session).

``Dovecot.start(tmp)`` writes a configuration into ``tmp``, generates a private CA and a server
certificate for 127.0.0.1 with ``cryptography``, and runs ``dovecot -F -c <conf>`` as a child
process with two listeners: ``imap`` (plain port, STARTTLS required before login) and ``imaps``
(TLS from the first byte). Users live in a passwd-file with ``{PLAIN}`` passwords; their mail in
``<tmp>/home/<user>/Maildir``. Messages are delivered by writing RFC 5322 files into
``Maildir/new``, which dovecot picks up on the next SELECT/SEARCH.

XOAUTH2: a ``passdb { driver = oauth2 }`` asks a tiny loopback HTTP server run by the fixture
(``corekit.testing.serve``) to introspect the bearer token; tokens in :attr:`Dovecot.tokens`
are valid (``{"active": true, "username": ...}``) until their expiry in
:attr:`OAuthServer.expiry` (if any), anything else is refused. The same server is the OAuth2
authorization server of the refresh tests (:class:`OAuthServer`, ``POST /token``): it answers the
``refresh_token`` grant with short-lived access tokens and rotates refresh tokens.

The module also holds the fixtures (``dovecot``, ``user``) and helpers the e-mail test modules
share; a test module imports the fixtures by name.

Running as root (CI and the dev container): dovecot's own ``dovecot`` (internal) and
``dovenull`` (login) users from the Debian package are used, and the tmp directory is opened
up (0755) so the auth process, which runs as ``dovecot``, can read the passwd-file. Mail
processes run as the test's uid/gid (``userdb static``). As a non-root user, every service runs
as that user.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import grp
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from timeline_support import Service, Tenant

from corekit.testing import serve
from timeline._db import Database
from timeline.mail import _sync as mail_sync

DOVECOT = "/usr/sbin/dovecot"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class Pki:
    """A private CA and a server certificate for 127.0.0.1 signed by it (PEM text)."""

    ca_pem: str
    cert_pem: str
    key_pem: str

    @classmethod
    def create(cls, ca_name: str = "timeline test CA") -> Pki:
        """A fresh CA and server certificate."""
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name(ca_name))
            .issuer_name(_name(ca_name))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress

        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("127.0.0.1"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        return cls(
            ca_pem=ca.public_bytes(pem).decode(),
            cert_pem=cert.public_bytes(pem).decode(),
            key_pem=key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
        )


@dataclass
class OAuthServer:
    """The fixture's OAuth2 authorization server: token endpoint and token introspection.

    ``POST /token`` takes the ``refresh_token`` grant (client authentication by form fields),
    issues an access token valid for ``lifetimes[user]`` seconds (default 3600) and, with
    ``rotate``, a new refresh token that replaces the presented one. Every presented refresh
    token is recorded in ``grants``; every issued one in ``issued``.
    """

    tokens: dict[str, str] = field(default_factory=dict)
    client_id: str = "timeline-test-client"
    client_secret: str = "client-s3cret-8e1f"
    rotate: bool = True
    lifetimes: dict[str, float] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    expiry: dict[str, float] = field(default_factory=dict)
    refused_users: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def token_url(self) -> str:
        """The token endpoint (plain http on 127.0.0.1)."""
        return f"{self.url}/token"

    def refresh_token_for(self, user: str) -> str:
        """A new valid refresh token of ``user``."""
        token = f"rt-{secrets.token_urlsafe(12)}"
        self.refresh_tokens[token] = user
        return token

    def expire_access_tokens(self, user: str) -> None:
        """Make every access token of ``user`` expired at introspection (no sleeping)."""
        for token, owner in self.tokens.items():
            if owner == user:
                self.expiry[token] = 0.0

    def settings_for(self, refresh_token: str, **overrides: Any) -> dict[str, Any]:
        """The ``oauth2`` body of an account using this server."""
        body: dict[str, Any] = {
            "token_url": self.token_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": refresh_token,
            "scope": "imap",
        }
        body.update(overrides)
        return body

    def active_user(self, token: str) -> str | None:
        """The user of an access token dovecot may accept, or None."""
        user = self.tokens.get(token)
        if user is None or user in self.refused_users:
            return None
        if self.expiry.get(token, float("inf")) <= time.time():
            return None
        return user

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The answer (status, JSON body) to a token request."""
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return 401, {"error": "invalid_client", "error_description": "unknown client"}
        presented = form.get("refresh_token", "")
        self.grants.append(presented)
        user = self.refresh_tokens.get(presented)
        if user is None:
            description = f"refresh token {presented} is unknown or revoked"
            return 400, {"error": "invalid_grant", "error_description": description}
        lifetime = self.lifetimes.get(user, 3600.0)
        access = f"at-{secrets.token_urlsafe(12)}"
        self.tokens[access] = user
        self.expiry[access] = time.time() + lifetime
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(lifetime),
        }
        if self.rotate:
            del self.refresh_tokens[presented]
            body["refresh_token"] = self.refresh_token_for(user)
            self.issued.append(body["refresh_token"])
        return 200, body


def _introspection_app(oauth: OAuthServer) -> FastAPI:
    app = FastAPI()

    @app.post("/introspect")
    async def introspect(request: Request) -> dict[str, Any]:
        form = await request.form()
        token = str(form.get("token", ""))
        if not token:  # dovecot may also send it as a bearer header
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        user = oauth.active_user(token)
        if user is None:
            return {"active": False}
        return {"active": True, "username": user}

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        status, body = oauth.grant({k: str(v) for k, v in form.items()})
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    return app


@dataclass
class Dovecot:
    """A running dovecot; see the module docstring."""

    root: Path
    imap_port: int
    imaps_port: int
    pki: Pki
    process: subprocess.Popen[bytes]
    passwords: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    _uid: int = 0
    _gid: int = 0
    oauth: OAuthServer = field(default_factory=OAuthServer)

    host = "127.0.0.1"

    @classmethod
    @contextlib.contextmanager
    def start(cls, users: dict[str, str]) -> Iterator[Dovecot]:
        """Run dovecot with ``users`` (name -> password) until the block ends.

        Its files live in a fresh directory directly under the system temp dir (removed at the
        end): pytest's own temp tree is mode 0700 and re-secured by every pytest run, which
        would lock out dovecot's unprivileged processes.
        """
        tokens: dict[str, str] = {}
        oauth = OAuthServer(tokens)
        root = Path(tempfile.mkdtemp(prefix="timeline-dovecot-"))
        try:
            with serve(_introspection_app(oauth)) as introspection:
                oauth.url = str(introspection.url)
                server = cls._launch(root, users, tokens, f"{introspection.url}/introspect")
                server.oauth = oauth
                try:
                    yield server
                finally:
                    server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    @classmethod
    def _launch(
        cls, root: Path, users: dict[str, str], tokens: dict[str, str], introspect_url: str
    ) -> Dovecot:
        if not Path(DOVECOT).exists():
            msg = f"{DOVECOT} is missing: install Debian's dovecot-imapd (.ci/run does)"
            raise RuntimeError(msg)
        root.mkdir(parents=True, exist_ok=True)
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            # dovecot refuses uid 0 for mail processes: the mailboxes belong to ``nobody``.
            internal, login = "dovecot", "dovenull"
            pwd.getpwnam(internal)
            pwd.getpwnam(login)
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            # The auth process (user dovecot) reads the passwd-file and oauth2 config.
            root.chmod(0o755)
        else:
            internal = login = pwd.getpwuid(uid).pw_name
        pki = Pki.create()
        (root / "ca.pem").write_text(pki.ca_pem)
        (root / "server.pem").write_text(pki.cert_pem)
        key_file = root / "server.key"
        key_file.write_text(pki.key_pem)
        key_file.chmod(0o600)
        (root / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in users.items())
        )
        (root / "oauth2.conf").write_text(
            f"introspection_mode = post\n"
            f"introspection_url = {introspect_url}\n"
            f"username_attribute = username\n"
            f"active_attribute = active\n"
            f"active_value = true\n"
        )
        imap_port, imaps_port = _free_port(), _free_port()
        # Only root may chroot the login processes.
        login_chroot = "" if os.getuid() == 0 else "  chroot =\n"
        conf = f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_failure_delay = 0
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: the auth process (not root) cannot open this socket, so a failed login
  # does not slow every later login from 127.0.0.1 down (2, 4, 8 ... 15 s).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        conf_file = root / "dovecot.conf"
        conf_file.write_text(conf)
        with (root / "dovecot.stderr").open("wb") as stderr:
            process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(conf_file)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        server = cls(root, imap_port, imaps_port, pki, process, dict(users), tokens, uid, gid)
        server._wait_ready()
        return server

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"dovecot exited: {self.log()}"
                raise RuntimeError(msg)
            try:
                with socket.create_connection((self.host, self.imap_port), timeout=1) as s:
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        msg = f"dovecot did not start within {timeout} s: {self.log()}"
        raise RuntimeError(msg)

    def log(self) -> str:
        """The server's log and stderr so far."""
        parts = []
        for name in ("dovecot.log", "dovecot.stderr"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop dovecot (and its children) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- mailboxes --------------------------------------------------------------------------

    def maildir(self, user: str) -> Path:
        """The user's INBOX maildir (created with its cur/new/tmp folders)."""
        path = self.root / "home" / user / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            for p in (path.parent, path, *(path / s for s in ("cur", "new", "tmp"))):
                os.chown(p, self._uid, self._gid)
            (self.root / "home").chmod(0o755)
        return path

    def deliver(self, user: str, raw: bytes) -> None:
        """Drop one message into the user's ``Maildir/new``."""
        maildir = self.maildir(user)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.timeline-test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        tmp.rename(maildir / "new" / name)

    def reset_uidvalidity(self, user: str) -> int:
        """Give the mailbox a new UIDVALIDITY (the old one plus one) and new UIDs from 1.

        Every message goes back into ``new``, dovecot's index files are deleted and a fresh
        ``dovecot-uidlist`` names the new validity: what a mailbox restored from a backup or
        recreated looks like to a client. Returns the new validity.
        """
        maildir = self.maildir(user)
        header = (maildir / "dovecot-uidlist").read_text().split("\n", 1)[0].split()
        old = next(int(f[1:]) for f in header if f.startswith("V"))
        for path in (maildir / "cur").iterdir():
            path.rename(maildir / "new" / path.name.split(":2,")[0])
        for name in os.listdir(maildir):
            if name.startswith("dovecot") and (maildir / name).is_file():
                (maildir / name).unlink()
        uidlist = maildir / "dovecot-uidlist"
        uidlist.write_text(f"3 V{old + 1} N1\n")
        if os.getuid() == 0:
            os.chown(uidlist, self._uid, self._gid)
        return old + 1


def make_message(
    n: int,
    *,
    subject: str | None = None,
    message_id: str | None = "auto",
    when: dt.datetime | None = None,
    attachment: tuple[str, bytes] | None = None,
    body: str | None = None,
) -> bytes:
    """An RFC 5322 message (bytes), numbered ``n`` for its subject and body."""
    msg = EmailMessage()
    msg["From"] = f"Sender {n} <sender{n}@example.org>"
    msg["To"] = "Case Desk <desk@example.com>"
    msg["Cc"] = "cc@example.com"
    msg["Subject"] = subject if subject is not None else f"message {n}"
    msg["Date"] = format_datetime(
        when or dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    )
    if message_id == "auto":
        msg["Message-ID"] = make_msgid(domain="example.org")
    elif message_id is not None:
        msg["Message-ID"] = message_id
    msg.set_content(body if body is not None else f"Hello, this is message {n}.\n")
    if attachment is not None:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return bytes(msg)


# --- fixtures and helpers of the e-mail tests ------------------------------------------------

USERS = 120
_next_user = itertools.count()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One dovecot for the session (per test module that imports it), with 120 users."""
    users = {f"user{i}": f"pw-{i}-s3cret-{i * 7919}" for i in range(USERS)}
    with Dovecot.start(users) as server:
        yield server


@pytest.fixture
def user(dovecot: Dovecot) -> str:
    """A mailbox user of its own for the test (empty INBOX)."""
    name = f"user{next(_next_user)}"
    dovecot.maildir(name)
    return name


def account_body(dovecot: Dovecot, user: str, subject_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"mail of {user}",
        "subject_id": subject_id,
        "host": dovecot.host,
        "port": dovecot.imaps_port,
        "security": "tls",
        "username": user,
        "secret": dovecot.passwords[user],
        "tls_ca_pem": dovecot.pki.ca_pem,
    }
    body.update(overrides)
    return body


def create_account(tenant: Tenant, dovecot: Dovecot, user: str, **overrides: Any) -> dict[str, Any]:
    subject_id = overrides.pop("subject_id", None) or tenant.subject()
    response = tenant.http.post(
        "/api/v1/email-accounts", json=account_body(dovecot, user, subject_id, **overrides)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def wait_run(tenant: Tenant, account_id: str, run_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = tenant.http.get(f"/api/v1/email-accounts/{account_id}/sync-runs/{run_id}")
        assert response.status_code == 200, response.text
        run = dict(response.json())
        if run["state"] in ("succeeded", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"sync run {run_id} did not finish in {timeout} s")


def sync(tenant: Tenant, account_id: str) -> dict[str, Any]:
    response = tenant.http.post(f"/api/v1/email-accounts/{account_id}/sync")
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "queued"
    return wait_run(tenant, account_id, response.json()["id"])


def mail_events(tenant: Tenant, subject_id: str) -> list[dict[str, Any]]:
    response = tenant.http.get(f"/api/v1/subjects/{subject_id}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["event_type"] == "email_received"]


def settings_with(service: Service, **updates: Any) -> Any:
    return service.settings.model_copy(update=updates)


async def direct_sync(settings: Any, tenant_id: str, account_id: str) -> dict[str, Any]:
    db = Database(settings.database_url)
    try:
        run = await mail_sync.claim(db, settings, tenant_id, account_id, trigger="cli")
        done = await mail_sync.execute(db, settings, tenant_id, account_id, run.id)
        return {
            "state": done.state,
            "imported": done.imported,
            "error": done.error,
            "total": done.total,
        }
    finally:
        await db.dispose()
