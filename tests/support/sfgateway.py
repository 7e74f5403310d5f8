"""A loopback stand-in for Snowflake's REST gateway, in front of a real S3 server (moto) or
Azurite: Snowflake itself cannot run here. It speaks the calls a stage needs, in Snowflake's wire
format (RustyObjectStore.jl's ``SFGatewayMock`` answers the same ones):

- ``POST /session/v1/login-request``: a master token (``AUTHENTICATOR: OAUTH``) or a user name
  and password; answers a session token and a master token with their validities.
- ``POST /session/token-request``: renews the session (``Authorization: Snowflake
  Token="<master>"``, ``{"oldSessionToken", "requestType": "RENEW"}``).
- ``POST /session/heartbeat``.
- ``POST /queries/v1/query-request``: ``PUT 'file://...' '@stage'`` answers the stage's location,
  temporary credentials and, for an encrypted stage, a fresh master key with its query id;
  ``GET '@stage/path' 'file://...'`` answers the master key the file was encrypted with (read from
  its ``matdesc`` metadata, as Snowflake keeps it).

Every request is recorded (``calls``), so tests can count logins, renewals and queries.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

MASTER_FILE_TOKEN = "file-master-token"
USERNAME = "stage-user"
PASSWORD = "stage-password-s3cr3t"
ACCOUNT = "testaccount"
DATABASE = "TESTDB"
SCHEMA = "TESTSCHEMA"


@dataclass
class S3Backend:
    endpoint: str
    bucket: str
    key_id: str = "stage-key-id"
    secret_key: str = "stage-secret-key"

    def location(self, prefix: str) -> dict[str, Any]:
        return {
            "locationType": "S3",
            "location": f"{self.bucket}/{prefix}",
            "path": prefix,
            "region": "us-east-1",
            "storageAccount": None,
            "creds": {
                "AWS_KEY_ID": self.key_id,
                "AWS_SECRET_KEY": self.secret_key,
                "AWS_TOKEN": "",
            },
            "useS3RegionalUrl": False,
            "endPoint": "s3.amazonaws.com",
            "testEndpoint": self.endpoint,
        }

    def client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret_key,
        )  # fmt: skip

    def read(self, key: str) -> tuple[bytes, dict[str, str]]:
        """A stored object's bytes and user metadata, as any S3 client sees them."""
        answer = self.client().get_object(Bucket=self.bucket, Key=key)
        return answer["Body"].read(), dict(answer["Metadata"])

    def metadata(self, key: str) -> dict[str, str]:
        return dict(self.client().head_object(Bucket=self.bucket, Key=key)["Metadata"])

    def keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@dataclass
class AzureBackend:
    #: Azurite's account URL (``http://127.0.0.1:port/devstoreaccount1``).
    endpoint: str
    account: str
    key: str
    container: str
    #: How long the SAS tokens handed out stay valid.
    sas_validity: timedelta = timedelta(hours=1)

    def location(self, prefix: str) -> dict[str, Any]:
        sas = generate_container_sas(
            self.account, self.container, account_key=self.key,
            permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True,
                                               add=True, create=True),
            expiry=datetime.now(timezone.utc) + self.sas_validity,
        )  # fmt: skip
        return {
            "locationType": "AZURE",
            "location": f"{self.container}/{prefix}",
            "path": prefix,
            "region": "westus2",
            "storageAccount": self.account,
            "creds": {"AZURE_SAS_TOKEN": f"?{sas}"},
            "useS3RegionalUrl": False,
            "endPoint": "blob.core.windows.net",
            "testEndpoint": self.endpoint.rsplit("/", 1)[0],
        }

    def _service(self) -> BlobServiceClient:
        return BlobServiceClient(self.endpoint, credential={"account_name": self.account,
                                                            "account_key": self.key})  # fmt: skip

    def read(self, key: str) -> tuple[bytes, dict[str, str]]:
        blob = self._service().get_blob_client(self.container, key)
        return blob.download_blob().readall(), dict(blob.get_blob_properties().metadata)

    def metadata(self, key: str) -> dict[str, str]:
        blob = self._service().get_blob_client(self.container, key)
        return dict(blob.get_blob_properties().metadata)

    def keys(self) -> list[str]:
        container = self._service().get_container_client(self.container)
        return sorted(b.name for b in container.list_blobs())


Backend = S3Backend | AzureBackend


@dataclass
class Session:
    token: str
    master: str


@dataclass
class Gateway:
    """The fake gateway's state; ``serve`` runs it."""

    backend: Backend
    encrypted: bool
    stages: tuple[str, ...] = ("TESTSTAGE",)
    token_validity: int = 3600
    master_validity: int = 14400
    #: Each stage's files live under this prefix of the bucket or container.
    prefix: str = field(default_factory=lambda: f"stages/{uuid.uuid4()}/")
    endpoint: str = ""
    master_token_path: str = ""
    calls: Counter[str] = field(default_factory=Counter)
    sql: list[str] = field(default_factory=list)
    #: Master keys handed out, by query id.
    keys: dict[str, bytes] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def full_stage(self, name: str) -> str:
        parts = [p.upper() for p in name.split(".")]
        defaults = [DATABASE, SCHEMA]
        return ".".join([*defaults[: 3 - len(parts)], *parts])

    def stage_file(self, path: str) -> str:
        """Where a stage file is in the backend."""
        return f"{self.prefix}{path}"

    def config_fields(self) -> dict[str, Any]:
        return {
            "account": ACCOUNT, "database": DATABASE, "schema": SCHEMA,
            "endpoint": self.endpoint, "master_token_path": self.master_token_path,
        }  # fmt: skip

    # -- the calls --------------------------------------------------------------------------

    def session_of(self, authorization: str | None, *, master: bool = False) -> Session | None:
        match = re.fullmatch(r'Snowflake Token="(.*)"', authorization or "")
        if match is None:
            return None
        token = match.group(1)
        with self.lock:
            for s in self.sessions:
                if (s.master if master else s.token) == token:
                    return s
        return None

    def new_session(self) -> dict[str, Any]:
        session = Session(f"session-{secrets.token_hex(8)}", f"master-{secrets.token_hex(8)}")
        with self.lock:
            self.sessions.append(session)
        return {"token": session.token, "masterToken": session.master,
                "validityInSeconds": self.token_validity,
                "masterValidityInSeconds": self.master_validity}  # fmt: skip

    def login(self, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        self.calls["login"] += 1
        data = body.get("data", {})
        if query.get("accountName") != [ACCOUNT] or data.get("ACCOUNT_NAME") != ACCOUNT:
            return failure("390201", "The requested account does not exist.")
        if "LOGIN_NAME" in data:
            if data.get("LOGIN_NAME") != USERNAME or data.get("PASSWORD") != PASSWORD:
                return failure("390100", "Incorrect username or password was specified.")
        elif data.get("AUTHENTICATOR") != "OAUTH" or data.get("TOKEN") != MASTER_FILE_TOKEN:
            return failure("390303", "Invalid OAuth access token.")
        return success(self.new_session())

    def renew(self, body: dict[str, Any], authorization: str | None) -> dict[str, Any]:
        self.calls["renew"] += 1
        session = self.session_of(authorization, master=True)
        if session is None or body.get("oldSessionToken") != session.token:
            return failure("390114", "Authentication token has expired.")
        fresh = self.new_session()
        return success({"sessionToken": fresh["token"], "masterToken": fresh["masterToken"],
                        "validityInSecondsST": self.token_validity,
                        "validityInSecondsMT": self.master_validity})  # fmt: skip

    def query(self, body: dict[str, Any], authorization: str | None) -> dict[str, Any]:
        if self.session_of(authorization) is None:
            return failure("390112", "Your session has expired. Please login again.")
        sql = str(body.get("sqlText", "")).strip()
        self.sql.append(sql)
        words = quoted_words(sql)
        if sql.startswith("PUT") and len(words) == 2 and words[1].startswith("@"):
            self.calls["put_query"] += 1
            return self.upload_info(words[1][1:])
        if sql.startswith("GET") and len(words) == 2 and words[0].startswith("@"):
            self.calls["get_query"] += 1
            stage, _, path = words[0][1:].partition("/")
            return self.download_info(stage, path)
        return failure("001003", f"SQL compilation error: syntax error in {sql!r}")

    def known(self, stage: str) -> bool:
        return self.full_stage(stage) in {self.full_stage(s) for s in self.stages}

    def not_found(self, stage: str) -> dict[str, Any]:
        return failure(
            "002003",
            f"SQL compilation error:\nStage '{self.full_stage(stage)}' does not exist or not "
            "authorized.",
        )

    def stage_info(self) -> dict[str, Any]:
        info = self.backend.location(self.prefix)
        info["isClientSideEncrypted"] = self.encrypted
        return info

    def upload_info(self, stage: str) -> dict[str, Any]:
        if not self.known(stage):
            return self.not_found(stage)
        info = self.stage_info()
        material = None
        if self.encrypted:
            # A fresh master key for every query, as Snowflake hands out.
            query_id = str(uuid.uuid4())
            key = os.urandom(16)
            with self.lock:
                self.keys[query_id] = key
            material = {"queryStageMasterKey": base64.b64encode(key).decode(),
                        "queryId": query_id, "smkId": 1000 + len(self.keys)}  # fmt: skip
        return success({"queryId": str(uuid.uuid4()), "stageInfo": info,
                        "encryptionMaterial": material, "command": "UPLOAD"})  # fmt: skip

    def download_info(self, stage: str, path: str) -> dict[str, Any]:
        if not self.known(stage):
            return self.not_found(stage)
        info = self.stage_info()
        material = None
        if self.encrypted:
            metadata = self.backend.metadata(self.stage_file(path))
            name = "x-amz-matdesc" if isinstance(self.backend, S3Backend) else "matdesc"
            query_id = json.loads(metadata[name])["queryId"]
            with self.lock:
                key = self.keys[query_id]
            material = {"queryStageMasterKey": base64.b64encode(key).decode(),
                        "queryId": query_id, "smkId": 1}  # fmt: skip
        return success({"queryId": str(uuid.uuid4()), "src_locations": [path],
                        "encryptionMaterial": [material], "stageInfo": info,
                        "command": "DOWNLOAD"})  # fmt: skip


def success(data: dict[str, Any]) -> dict[str, Any]:
    return {"data": data, "code": None, "message": None, "success": True}


def failure(code: str, message: str) -> dict[str, Any]:
    return {"data": {"queryId": str(uuid.uuid4())}, "code": code, "message": message,
            "success": False}  # fmt: skip


def quoted_words(sql: str) -> list[str]:
    """The single-quoted strings of a query, unescaped (``'@stage/it\\'s'`` is ``@stage/it's``)."""
    return [re.sub(r"\\(.)", r"\1", w) for w in re.findall(r"'((?:[^'\\]|\\.)*)'", sql)]


class _Handler(BaseHTTPRequestHandler):
    gateway: Gateway

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        g = self.gateway
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self.answer(HTTPStatus.BAD_REQUEST, {"message": "not JSON"})
            return
        authorization = self.headers.get("Authorization")
        if url.path == "/session/v1/login-request":
            self.answer(HTTPStatus.OK, g.login(body, query))
        elif url.path == "/session/token-request":
            self.answer(HTTPStatus.OK, g.renew(body, authorization))
        elif url.path == "/session/heartbeat":
            g.calls["heartbeat"] += 1
            if g.session_of(authorization) is None:
                self.answer(HTTPStatus.OK, failure("390112", "Your session has expired."))
            else:
                self.answer(HTTPStatus.OK, success({}))
        elif url.path == "/queries/v1/query-request":
            self.answer(HTTPStatus.OK, g.query(body, authorization))
        else:
            self.answer(HTTPStatus.NOT_FOUND, {"message": "no such call"})

    def answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serve(gateway: Gateway, token_dir: Path) -> Iterator[Gateway]:
    """Runs ``gateway`` on an ephemeral loopback port until the block ends; its master token
    file is written in ``token_dir``."""
    handler = type("Handler", (_Handler,), {"gateway": gateway})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    gateway.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    token_file = token_dir / f"token-{uuid.uuid4().hex}"
    token_file.write_text(MASTER_FILE_TOKEN + "\n")
    gateway.master_token_path = str(token_file)
    thread = threading.Thread(target=server.serve_forever, name="sfgateway", daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
