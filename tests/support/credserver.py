"""A loopback credential server for the sources that cannot run on one machine.

It speaks the documented wire formats of AWS's instance metadata service (IMDSv2: a session token
by PUT, then the role and its credentials, with an expiry), the ECS/EKS container credentials
endpoint, Azure's managed identity endpoint and OAuth2 client-credentials token endpoint, and
GCE's metadata token endpoint and a service account's ``token_uri`` (a signed JWT exchanged for
an access token). It records every request, so that a test can check what it was sent.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROLE = "test-role"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class AwsKeys:
    access_key_id: str
    secret_access_key: str
    session_token: str


@dataclass
class CredentialServer:
    """Start with ``CredentialServer.start()``; ``endpoint`` is ``http://127.0.0.1:P``."""

    #: What the AWS sources hand out, in turn: each request for credentials takes the next
    #: (the last one repeats).
    aws_keys: list[AwsKeys] = field(default_factory=list)
    #: Seconds from now until the handed-out credentials and tokens expire.
    lifetime_secs: int = 3600
    #: The bearer token the Azure and GCS sources hand out: shaped as Azure AD's, which Azurite
    #: (``--oauth basic``) takes.
    bearer_token: str = field(default_factory=lambda: azure_ad_token())
    #: A certificate and its key: serve HTTPS (as Azure AD does; object_store then refuses http).
    tls: tuple[Path, Path] | None = None
    seen: list[Seen] = field(default_factory=list)
    imds_tokens: set[str] = field(default_factory=set)
    served: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, **settings: object) -> CredentialServer:
        self = cls(**settings)  # type: ignore[arg-type]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(
                    method, parts.path, parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()}, body,
                )  # fmt: skip
                with outer._lock:
                    outer.seen.append(seen)
                status, payload = outer.route(seen)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def do_POST(self) -> None:
                self._answer("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # The handshake happens on each request's own thread, not in accept().
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def requests(self, path_start: str) -> Iterator[Seen]:
        with self._lock:
            found = list(self.seen)
        return (s for s in found if s.path.startswith(path_start))

    def _expiry(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            seconds=self.lifetime_secs
        )

    def _next_keys(self) -> AwsKeys:
        with self._lock:
            keys = self.aws_keys[min(self.served, len(self.aws_keys) - 1)]
            self.served += 1
        return keys

    def _aws_credentials(self, pascal_token: str) -> dict[str, str]:
        keys = self._next_keys()
        return {
            "Code": "Success",
            "Type": "AWS-HMAC",
            "AccessKeyId": keys.access_key_id,
            "SecretAccessKey": keys.secret_access_key,
            pascal_token: keys.session_token,
            "Expiration": self._expiry().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        }

    def route(self, seen: Seen) -> tuple[int, object]:
        path, headers = seen.path, seen.headers
        # AWS instance metadata, IMDSv2 (a session token first, then the role's credentials).
        if seen.method == "PUT" and path == "/latest/api/token":
            if "x-aws-ec2-metadata-token-ttl-seconds" not in headers:
                return 400, b"missing TTL header"
            token = uuid.uuid4().hex
            with self._lock:
                self.imds_tokens.add(token)
            return 200, token.encode()
        if path.startswith("/latest/meta-data/iam/security-credentials"):
            if headers.get("x-aws-ec2-metadata-token") not in self.imds_tokens:
                return 401, b""
            if path.rstrip("/").endswith("security-credentials"):
                return 200, ROLE.encode()
            if path.endswith(f"/{ROLE}"):
                return 200, self._aws_credentials("Token")
            return 404, b""
        # ECS / EKS pod identity container credentials.
        if path == "/v1/credentials":
            if headers.get("authorization") != CONTAINER_TOKEN:
                return 401, {"message": "bad authorization token"}
            return 200, self._aws_credentials("Token")
        # Azure managed identity (IMDS).
        if path == "/metadata/identity/oauth2/token":
            # Metadata: true on a VM; App Service's secret header there instead.
            if headers.get("metadata") != "true" and "x-identity-header" not in headers:
                return 400, {"error": "invalid_request"}
            expires_on = int(self._expiry().timestamp())
            return 200, {
                "access_token": self.bearer_token,
                "expires_in": str(self.lifetime_secs),
                "expires_on": str(expires_on),
                "resource": seen.query.get("resource", [""])[0],
                "token_type": "Bearer",
            }
        # Azure AD (client credentials) and a Google service account's token_uri.
        if seen.method == "POST" and path.endswith("/token"):
            return 200, {
                "access_token": self.bearer_token,
                "expires_in": self.lifetime_secs,
                "token_type": "Bearer",
            }
        # GCE metadata server.
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if headers.get("metadata-flavor") != "Google":
                return 403, b""
            return 200, {
                "access_token": self.bearer_token,
                "expires_in": self.lifetime_secs,
                "token_type": "Bearer",
            }
        return 404, b"not found"


CONTAINER_TOKEN = "container-authorization-token"


def azure_ad_token(tenant: str = "the-tenant", lifetime_secs: int = 86400) -> str:
    """A JWT with the claims of an Azure AD access token for Azure Storage (audience, issuer,
    validity), signed by no one: what Azurite's ``--oauth basic`` checks."""

    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{tenant}/",
              "iat": now - 60, "nbf": now - 60, "exp": now + lifetime_secs, "tid": tenant,
              "oid": str(uuid.uuid4())}  # fmt: skip
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{part('unsigned')}"


def jwt_parts(assertion: str) -> tuple[dict[str, object], dict[str, object], bytes, bytes]:
    """A JWT's header, claims, signed bytes and signature."""
    head, claims, signature = assertion.split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    return (
        json.loads(decode(head)),
        json.loads(decode(claims)),
        f"{head}.{claims}".encode(),
        decode(signature),
    )


def service_account(token_uri: str) -> tuple[Any, dict[str, str]]:
    """A new service account: its RSA private key, and the key file's contents naming
    ``token_uri`` (where its signed JWT is exchanged for a token)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    info = {"type": "service_account", "project_id": "p", "private_key_id": "kid",
            "private_key": pem, "client_email": "sa@p.iam.gserviceaccount.com",
            "token_uri": token_uri}  # fmt: skip
    return key, info


def loopback_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate it signed for 127.0.0.1 (with its key), as PEM files:
    for HTTPS servers on loopback that clients verify against the CA (``SSL_CERT_FILE``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("rustyobjectstore test CA"))
        .issuer_name(name("rustyobjectstore test CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    server = (
        x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        ), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
