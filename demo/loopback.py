"""What the loopback stand-ins (demo/wsman_stub.py, demo/bhold_stub.py, demo/cm_stub.py) share:
an HTTP and an HTTPS server on 127.0.0.1 (free ports) with a self-signed certificate for
127.0.0.1 and localhost (`LoopbackServers`), and a request handler doing Basic (`BASIC_USER`),
NTLM (`NTLM_USER`, pyspnego as acceptor, one context per TCP connection as IIS and WinRM
do it) and, where the handler offers it (WinRM does, IIS does not), CredSSP (`NTLM_USER`
again, for the SPNEGO logon inside it; pyspnego's CredSSP acceptor, one context per TCP
connection too; the credentials the client delegates are kept) (`LoopbackHandler`).

    class Handler(LoopbackHandler):
        realm = "CM"

        def do_GET(self):
            self.answer(self._get)  # reads the body, authenticates (or answers 401), then:

        def _get(self, body: bytes, auth: str): ...  # auth: "basic" | "ntlm" | "credssp"

    class CmStub(LoopbackStub):  # start()/stop(), or use it as a context manager
        def __init__(self):
            self._servers = LoopbackServers(Handler, prefix="mimbot-cm-")
            self.url = self._servers.url("/api")
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self, cast

import spnego
import spnego.tls
from spnego.exceptions import SpnegoError

__all__ = [
    "BASIC_USER",
    "NTLM_USER",
    "CredSspConnection",
    "LoopbackHandler",
    "LoopbackServer",
    "LoopbackServers",
    "LoopbackStub",
    "NtlmConnection",
    "NtlmUsers",
    "credssp_tls",
    "ntlm_users",
    "self_signed_cert",
]

BASIC_USER = ("mimbot", "Secret-1")
NTLM_USER = ("LAB\\mimbot", "Secret-1")
NEGOTIATE = b"\x01\x00\x00\x00"  # the NTLM message type at bytes 8-12 of a NEGOTIATE_MESSAGE
# A CredSSP exchange opens with a TLS ClientHello (MS-CSSP 3.1.5 step 1): a handshake record
# (content type 22, RFC 5246 6.2.1) whose first message is client_hello (type 1, 7.4).
TLS_HANDSHAKE, CLIENT_HELLO = 0x16, 0x01


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server, or HTTPS with `tls` (the handshake runs in the connection's own
    thread). Keeps the open connections in `connections` (see `LoopbackHandler`)."""

    request_queue_size = 1024  # socketserver's 5 refuses bursts of parallel connector calls
    daemon_threads = True

    def __init__(self, addr: Any, handler: Any, *, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self) -> Any:
        sock, addr = super().get_request()
        if self.tls is not None:  # handshake later, in the connection's own thread
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # TLS refusals, clients gone mid-reply: the client side sees and reports them

    def drop_connections(self) -> None:
        """Shut down every open connection (a handler blocked on it wakes up)."""
        with self.connections_lock:
            for sock in list(self.connections):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class LoopbackServers:
    """An HTTP (`http`) and an HTTPS (`https`) `LoopbackServer` on 127.0.0.1, port 0, serving
    `handler`; the HTTPS one with a fresh self-signed certificate (`cert_file`, `key_file`,
    `ca_file`) in a temporary folder named from `prefix`. `start()` also sets up the NTLM
    users file (`ntlm_users`); `stop()` undoes it all."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, prefix: str) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.cert_file, self.key_file = self_signed_cert(self._dir)
        self.ca_file = str(self.cert_file)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.cert_file, self.key_file)
        self.http = LoopbackServer(("127.0.0.1", 0), handler, tls=None)
        self.https = LoopbackServer(("127.0.0.1", 0), handler, tls=tls)
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
            for s in (self.http, self.https)
        ]

    def url(self, path: str, *, tls: bool = False) -> str:
        """`http://127.0.0.1:<port><path>`, or the HTTPS server's with `tls`."""
        if tls:
            return f"https://127.0.0.1:{self.https.server_address[1]}{path}"
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"

    def start(self) -> None:
        ntlm_users.acquire()
        for t in self._threads:
            t.start()

    def stop(self, *, drop_connections: bool = False) -> None:
        """Stop serving; with `drop_connections`, shut down the connections still open too."""
        for s in (self.http, self.https):
            s.shutdown()
            s.server_close()
        if drop_connections:
            for s in (self.http, self.https):
                s.drop_connections()
        ntlm_users.release()
        shutil.rmtree(self._dir, ignore_errors=True)


class LoopbackStub:
    """A stand-in serving through `self._servers` (set by its __init__): `start()`/`stop()`,
    or use it as a context manager."""

    _servers: LoopbackServers

    def start(self) -> Self:
        self._servers.start()
        return self

    def stop(self) -> None:
        self._servers.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class NtlmConnection:
    """One TCP connection's NTLM state: NTLM authenticates the connection, not the request."""

    context: Any = None  # pyspnego's acceptor, once a NEGOTIATE came
    authenticated: bool = False

    def reset(self) -> None:
        self.context, self.authenticated = None, False


@dataclass
class CredSspConnection:
    """One TCP connection's CredSSP state. WinRM keeps the CredSSP context per connection as
    it does NTLM's: the client sends `Authorization: CredSSP` only "until the ... service
    responds with a 200 OK" (MS-WSMV 2.2.9.1.3's HTTP headers), then encrypts with that
    context on the same connection."""

    context: Any = None  # pyspnego's CredSSP acceptor, once a TLS ClientHello came
    authenticated: bool = False
    # DOMAIN\user whose password arrived in TSCredentials (MS-CSSP 2.2.1.2) and is one the
    # domain knows: what the server would log on with at a second hop; None otherwise.
    delegated: str | None = None

    def reset(self) -> None:
        self.context, self.authenticated, self.delegated = None, False, None


class LoopbackHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, the TLS handshake, Basic, NTLM and CredSSP (`authenticate`),
    replies (`reply`). A subclass names its Basic `realm`, what it offers for NTLM
    (`ntlm_offer`: "NTLM" as IIS does, or "Negotiate"), whether it offers CredSSP
    (`offers_credssp`: WinRM with Auth/CredSSP on; IIS never) and the `content_type` of its
    replies."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms delayed ACK
    realm = "loopback"
    ntlm_offer = "NTLM"
    offers_credssp = False
    content_type: str | None = None  # of a reply with a body; None: the caller's headers say

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        self.ntlm = NtlmConnection()
        self.credssp = CredSspConnection()
        server = cast(LoopbackServer, self.server)
        with server.connections_lock:
            server.connections.add(self.request)

    def finish(self) -> None:
        server = cast(LoopbackServer, self.server)
        with server.connections_lock:
            server.connections.discard(self.request)
        with contextlib.suppress(OSError):
            super().finish()

    @property
    def tls(self) -> bool:
        return isinstance(self.request, ssl.SSLSocket)

    def answer(self, respond: Callable[[bytes, str], None]) -> None:
        """Read the request's body and authenticate it, then `respond(body, auth)` (auth:
        'basic', 'ntlm' or 'credssp'); a client gone before the answer closes the connection."""
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            who = self.authenticate()
            if who is not None:
                respond(raw, who)
        except OSError:  # the client gave up (read timeout) before we answered
            self.close_connection = True

    def authenticate(self) -> str | None:
        """'basic', 'ntlm' or 'credssp' for an authenticated request; otherwise answer 401
        (`refuse`): a challenge, or the offer of NTLM (CredSSP) and Basic, and return None."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                user, _, password = base64.b64decode(token).decode().partition(":")
                if (user, password) == BASIC_USER:
                    return "basic"
        elif scheme.lower() in ("negotiate", "ntlm"):
            return self._ntlm_step(scheme, token)
        elif scheme.lower() == "credssp" and self.offers_credssp:
            return self._credssp_step(token)
        elif self.ntlm.authenticated:
            return "ntlm"
        elif self.credssp.authenticated:
            return "credssp"
        offers = [self.ntlm_offer, *(["CredSSP"] if self.offers_credssp else []), self.basic_offer]
        self.refuse([("WWW-Authenticate", offer) for offer in offers])
        return None

    def _ntlm_step(self, scheme: str, token: str) -> str | None:
        """One leg of the NTLM handshake, pyspnego accepting against `ntlm_users`' file."""
        try:
            raw = base64.b64decode(token)
            if self.ntlm.context is None or raw[8:12] == NEGOTIATE:
                self.ntlm.reset()
                self.credssp.reset()  # a connection carries one security context
                self.ntlm.context = spnego.server(
                    protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm
                )
            out = self.ntlm.context.step(raw)
        except (ValueError, SpnegoError):  # wrong password, unknown user, garbage
            self.ntlm.reset()
            self.refuse([("WWW-Authenticate", scheme)])
            return None
        if not self.ntlm.context.complete:
            challenge = f"{scheme} {base64.b64encode(out or b'').decode()}"
            self.refuse([("WWW-Authenticate", challenge)])
            return None
        self.ntlm.authenticated = True
        return "ntlm"

    def _credssp_step(self, token: str) -> str | None:
        """One leg of CredSSP (MS-CSSP 3.1.5): the TLS handshake, the SPNEGO logon inside it
        (pyspnego's NTLM against `ntlm_users`' file, as the NTLM acceptor above), the public
        key check, then TSCredentials; each server token goes back in a 401's
        `WWW-Authenticate: CredSSP <b64>` (MS-WSMV 2.2.9.1.3's HTTP headers) and the leg
        carrying the credentials is the request answered."""
        try:
            raw = base64.b64decode(token)
            hello = raw[:1] == bytes([TLS_HANDSHAKE]) and raw[5:6] == bytes([CLIENT_HELLO])
            if self.credssp.context is None or hello:
                self.credssp.reset()
                self.ntlm.reset()  # a connection carries one security context
                # use_negotiate: the inner logon is pyspnego's own SPNEGO (MS-CSSP 3.1.5 step
                # 2 carries SPNEGO tokens), which picks its NTLM, never a system GSSAPI.
                self.credssp.context = spnego.server(
                    protocol="credssp",
                    options=spnego.NegotiateOptions.use_negotiate,
                    credssp_tls_context=credssp_tls(),
                )
            context = self.credssp.context
            out = context.step(raw)
        except (ValueError, SpnegoError):  # garbage, a failed TLS handshake, a bad public key
            self.credssp.reset()
            self.refuse([("WWW-Authenticate", "CredSSP")])
            return None
        if not context.complete:
            # A failed logon (wrong password, unknown user) answers a TSRequest carrying its
            # NTSTATUS (MS-CSSP 2.2.1 errorCode, versions 3, 4 and 6+); it ends the exchange.
            if out is None or context.get_extra_info("auth_stage") == "Authentication failure":
                self.credssp.reset()
            if out is None:
                self.refuse([("WWW-Authenticate", "CredSSP")])
            else:
                self.refuse([("WWW-Authenticate", f"CredSSP {base64.b64encode(out).decode()}")])
            return None
        self.credssp.authenticated = True
        self.credssp.delegated = _delegated(context.get_extra_info("client_credential"))
        return "credssp"

    @property
    def basic_offer(self) -> str:
        return f'Basic realm="{self.realm}"'

    def refuse(self, headers: Iterable[tuple[str, str]]) -> None:
        """The 401 `authenticate` answers."""
        self.reply(401, b"", headers)

    def forget_credentials(self) -> None:
        """An injected `auth` fault: drop the connection's NTLM or CredSSP and answer 401
        offering Basic."""
        self.ntlm.reset()
        self.credssp.reset()
        self.reply(401, b"", [("WWW-Authenticate", self.basic_offer)])

    def reply(
        self,
        status: int,
        body: bytes,
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str | None = None,
    ) -> None:
        """`headers`, then Content-Type (`content_type` or the class's) when there is a body."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        content_type = content_type or self.content_type
        if body and content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class NtlmUsers:
    """pyspnego's acceptor reads NTLM_USER_FILE from the environment at each handshake: set it
    (to a file holding `NTLM_USER`) while any stand-in runs, restore it when the last one
    stops. Use the one instance, `ntlm_users`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._prev: str | None = None
        self._dir: Path | None = None

    def acquire(self) -> None:
        with self._lock:
            if self._count == 0:
                self._dir = Path(tempfile.mkdtemp(prefix="mimbot-ntlm-"))
                domain, user = NTLM_USER[0].split("\\")
                path = self._dir / "users"
                path.write_text(f"{domain}:{user}:{NTLM_USER[1]}\n")
                self._prev = os.environ.get("NTLM_USER_FILE")
                os.environ["NTLM_USER_FILE"] = str(path)
            self._count += 1

    def release(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0:
                if self._prev is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = self._prev
                shutil.rmtree(self._dir, ignore_errors=True)


ntlm_users = NtlmUsers()


def _delegated(credential: Any) -> str | None:
    """DOMAIN\\user of TSPasswordCreds (MS-CSSP 2.2.1.2.1) a second hop would log on with: the
    NTLM user's own name and password; None for other credentials (a smart card's, another
    password)."""
    # pyspnego's `client_credential` extra info: TSPasswordCreds (domain_name, username,
    # password), TSSmartCardCreds or TSRemoteGuardCreds (spnego/_context.py get_extra_info).
    domain = getattr(credential, "domain_name", None)
    user, password = getattr(credential, "username", None), getattr(credential, "password", None)
    if not (isinstance(domain, str) and isinstance(user, str) and isinstance(password, str)):
        return None
    if f"{domain}\\{user}".lower() == NTLM_USER[0].lower() and password == NTLM_USER[1]:
        return NTLM_USER[0]
    return None


_credssp_tls: spnego.tls.CredSSPTLSContext | None = None
_credssp_tls_lock = threading.Lock()


def credssp_tls() -> spnego.tls.CredSSPTLSContext:
    """The TLS side of every CredSSP acceptor here (one for the process: the RSA key takes a
    while). pyspnego's defaults (`spnego.tls.default_tls_context`: TLS 1.2 at least, no
    compression, SChannel's quirks) with a self-signed certificate, which MS-CSSP 3.1.5 step 1
    allows; capped at TLS 1.2, since Schannel on Windows Server 2016 and 2019 (MIM 2016's
    servers) has no TLS 1.3 ("Protocols in TLS/SSL (Schannel SSP)", learn.microsoft.com), and
    held to the ECDHE AES-GCM suites at the top of their default order ("Cipher Suites in
    TLS/SSL (Schannel SSP)"), whose 16-byte trailer pywinrm's framing assumes (see
    demo/wsman_stub.py)."""
    global _credssp_tls
    with _credssp_tls_lock:
        if _credssp_tls is None:
            tls = spnego.tls.default_tls_context(usage="accept")
            tls.context.maximum_version = ssl.TLSVersion.TLSv1_2
            tls.context.set_ciphers("ECDHE+AESGCM")
            cert_pem, key_pem, public_key = spnego.tls.generate_tls_certificate()
            folder = Path(tempfile.mkdtemp(prefix="mimbot-credssp-"))
            try:  # load_cert_chain reads files only
                (folder / "cert.pem").write_bytes(cert_pem + key_pem)
                tls.context.load_cert_chain(folder / "cert.pem")
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            tls.public_key = public_key
            _credssp_tls = tls
        return _credssp_tls


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A cert for 127.0.0.1/localhost that is its own CA (`cryptography`), and its key, as
    cert.pem and key.pem in `directory`."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    # cryptography comes with pyspnego, which pywinrm's NTLM needs anyway.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mimbot wsman stub")])
    now = datetime.datetime.now(datetime.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pk.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pk.public_key()), critical=False)
        .sign(pk, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pk.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key
