"""The exception tree. Every class also subclasses the built-in a Python user would catch.

    ObjectStoreError
    ├── NotFoundError                (FileNotFoundError)   kind "not_found"
    │   └── BucketNotFoundError                            kind "bucket_not_found"
    ├── PermissionDeniedError        (PermissionError)     kind "permission": 401 / 403
    │   └── NoCredentialsError                             kind "no_credentials" (Python side)
    ├── ObjectStoreTimeoutError      (TimeoutError)        kind "timeout"
    │   └── DeadlineExceededError                          kind "deadline" (Python side)
    ├── ObjectStoreConnectionError   (ConnectionError)     kind "connection"
    ├── EarlyEOFError                (EOFError)            kind "early_eof": body cut short
    ├── HTTPStatusError              (OSError)             kind "http_status": any other status
    ├── AlreadyExistsError           (FileExistsError)     kind "already_exists"
    ├── PreconditionFailedError                            kind "precondition"
    ├── NotModifiedError                                   kind "not_modified"
    ├── RangeNotSatisfiableError     (ValueError)          kind "range_not_satisfiable": 416
    ├── NotSupportedError            (NotImplementedError) kind "not_supported"
    ├── InvalidPathError             (ValueError)          kind "invalid_path"
    ├── BufferTooSmallError          (ValueError)          kind "buffer_too_small" (Python side)
    ├── ConfigurationError           (ValueError)          kind "config"
    │   └── ParseURLError                                  kind "parse_url"
    ├── DataError                    (ValueError)          kind "data": cannot decompress
    ├── StorageFullError             (OSError)             kind "storage_full": no room left
    ├── ProtocolError                                      kind "protocol"
    ├── WorkerCrashedError                                 kind "worker_crashed" (Python side)
    │   └── WorkerProtocolError (also a ProtocolError)     kind "worker_protocol" (Python side)
    ├── CancelledByCallerError                             kind "cancelled"
    └── UnknownError                                       kind "unknown"

protocol.md section 6 lists the kinds; a test checks that every one maps to a class here.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar


class ObjectStoreError(Exception):
    """Base of every error this library raises. Carries the operation, the key and the HTTP status
    where there is one; the message never contains a secret."""

    kind: ClassVar[str] = "unknown"

    def __init__(
        self,
        message: str,
        *,
        op: str | None = None,
        path: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.op = op
        self.path = path
        self.status_code = status

    def __str__(self) -> str:
        where = " ".join(part for part in (self.op, repr(self.path) if self.path else None) if part)
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{where}: {self.message}{status}" if where else f"{self.message}{status}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.op, self.path, self.status_code))


def _rebuild(
    cls: type[ObjectStoreError], message: str, op: str | None, path: str | None, status: int | None
) -> ObjectStoreError:
    return cls(message, op=op, path=path, status=status)


class NotFoundError(ObjectStoreError, FileNotFoundError):
    kind = "not_found"


class BucketNotFoundError(NotFoundError):
    """The bucket or container itself does not exist (the message names it), so no key in it
    can be read or written."""

    kind = "bucket_not_found"


class PermissionDeniedError(ObjectStoreError, PermissionError):
    kind = "permission"
    #: The refused request was signed by a credential provider's credentials, which will be
    #: fetched again: the call is worth one more try.
    stale_credentials: bool = False


class NoCredentialsError(PermissionDeniedError):
    """A configuration carries no credentials and none of its cloud's default sources has any
    (the message lists each source tried); pass keys, or ``anonymous=True`` for a public bucket."""

    kind = "no_credentials"


class ObjectStoreTimeoutError(ObjectStoreError, TimeoutError):
    kind = "timeout"


class DeadlineExceededError(ObjectStoreTimeoutError):
    """The call did not finish within its deadline (``StaticConfig.call_timeout_secs`` or a
    ``deadline()`` block); the worker was told to stop it."""

    kind = "deadline"


class ObjectStoreConnectionError(ObjectStoreError, ConnectionError):
    kind = "connection"


class EarlyEOFError(ObjectStoreError, EOFError):
    kind = "early_eof"


class HTTPStatusError(ObjectStoreError, OSError):
    kind = "http_status"


class AlreadyExistsError(ObjectStoreError, FileExistsError):
    kind = "already_exists"


class PreconditionFailedError(ObjectStoreError):
    kind = "precondition"


class NotModifiedError(ObjectStoreError):
    kind = "not_modified"


class RangeNotSatisfiableError(ObjectStoreError, ValueError):
    """A range that starts at or past the object's end (HTTP 416). The range reads cut ranges at
    the end instead, as slicing does; this reaches callers of the protocol only."""

    kind = "range_not_satisfiable"


class NotSupportedError(ObjectStoreError, NotImplementedError):
    kind = "not_supported"


class InvalidPathError(ObjectStoreError, ValueError):
    kind = "invalid_path"


class BufferTooSmallError(ObjectStoreError, ValueError):
    kind = "buffer_too_small"

    def __init__(
        self,
        message: str,
        *,
        op: str | None = None,
        path: str | None = None,
        status: int | None = None,
        object_size: int | None = None,
    ) -> None:
        super().__init__(message, op=op, path=path, status=status)
        self.object_size = object_size


class ConfigurationError(ObjectStoreError, ValueError):
    kind = "config"


class ParseURLError(ConfigurationError):
    kind = "parse_url"


class DataError(ObjectStoreError, ValueError):
    kind = "data"


class StorageFullError(ObjectStoreError, OSError):
    """A local store's disk is full, or a quota or file size limit was reached; nothing was stored."""

    kind = "storage_full"


class ProtocolError(ObjectStoreError):
    kind = "protocol"


class WorkerCrashedError(ObjectStoreError):
    kind = "worker_crashed"


class WorkerProtocolError(WorkerCrashedError, ProtocolError):
    """The worker wrote something that is not a valid frame; it was killed and will be replaced."""

    kind = "worker_protocol"


class CancelledByCallerError(ObjectStoreError):
    """The worker stopped a request because its caller cancelled it (only seen by code that reads
    the answer to a cancelled request)."""

    kind = "cancelled"


class UnknownError(ObjectStoreError):
    kind = "unknown"


ERROR_CLASSES: dict[str, type[ObjectStoreError]] = {
    cls.kind: cls
    for cls in (
        NotFoundError,
        BucketNotFoundError,
        PermissionDeniedError,
        NoCredentialsError,
        ObjectStoreTimeoutError,
        DeadlineExceededError,
        ObjectStoreConnectionError,
        EarlyEOFError,
        HTTPStatusError,
        AlreadyExistsError,
        PreconditionFailedError,
        NotModifiedError,
        RangeNotSatisfiableError,
        NotSupportedError,
        InvalidPathError,
        BufferTooSmallError,
        ConfigurationError,
        DataError,
        StorageFullError,
        ParseURLError,
        ProtocolError,
        WorkerCrashedError,
        WorkerProtocolError,
        CancelledByCallerError,
        UnknownError,
    )
}


def error_from_wire(error: Any, op: str, path: str | None) -> ObjectStoreError:
    """The exception for an ``error`` map of a response (protocol.md section 6)."""
    if not isinstance(error, dict):
        return ProtocolError(f"malformed error field {error!r}", op=op, path=path)
    kind = error.get("kind")
    cls = ERROR_CLASSES.get(kind, UnknownError) if isinstance(kind, str) else UnknownError
    status = error.get("status")
    return cls(
        str(error.get("message", "")),
        op=op,
        path=path,
        status=status if isinstance(status, int) else None,
    )


# The seed's helpers (RustyObjectStore.jl): each takes any exception.

# A storage service's XML error body (S3, Azure): its code, and its message up to the line's end
# (Azure appends request ids and times on lines of their own).
_BACKEND_ERROR = re.compile(r"<Error>[\s\S]*?<Code>([\s\S]*?)</Code>[\s\S]*?<Message>([^<\n]*)")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")


def safe_message(e: BaseException) -> str | None:
    """The text of one of this library's errors for logs that must not hold an address: every
    URL (a bucket's host, a signed query) is removed, and a service's error body is cut down to
    its code and message: ``get 'k': The specified key does not exist. (code: NoSuchKey,
    reason: not_found, HTTP 404)``. The operation and the key stay. Secrets are never in an
    error to begin with. None for another exception (as in RustyObjectStore.jl)."""
    if not isinstance(e, ObjectStoreError):
        return None
    where = " ".join(part for part in (e.op, repr(e.path) if e.path else None) if part)
    reason = e.kind if e.status_code is None else f"{e.kind}, HTTP {e.status_code}"
    found = _BACKEND_ERROR.search(e.message)
    if found is not None:
        text = f"{found[2].strip()} (code: {found[1].strip()}, reason: {reason})"
    else:
        text = f"{_URL.sub('<url>', e.message)} (reason: {reason})"
    return f"{where}: {text}" if where else text


def status_code(e: BaseException) -> int | None:
    """The HTTP status behind an error, if one is known."""
    return e.status_code if isinstance(e, ObjectStoreError) else None


def is_connection(e: BaseException) -> bool:
    return isinstance(e, ObjectStoreConnectionError)


def is_timeout(e: BaseException) -> bool:
    return isinstance(e, ObjectStoreTimeoutError)


def is_early_eof(e: BaseException) -> bool:
    return isinstance(e, EarlyEOFError)


def is_parse_url(e: BaseException) -> bool:
    return isinstance(e, ParseURLError)


def is_unknown(e: BaseException) -> bool:
    return isinstance(e, UnknownError)
