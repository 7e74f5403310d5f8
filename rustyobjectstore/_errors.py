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

import asyncio
import concurrent.futures
import re
from typing import Any, ClassVar

# What a wait that ran out of time raises: the builtin TimeoutError since Python 3.11, a class of
# their own in 3.10's concurrent.futures and asyncio.
WAIT_TIMEOUTS: tuple[type[Exception], ...] = (
    TimeoutError,
    concurrent.futures.TimeoutError,
    asyncio.TimeoutError,
)


class ObjectStoreError(Exception):
    """Base of every error this library raises (an ``Exception``). Carries the operation (``op``),
    the key (``path``), the HTTP status where there is one (``status_code``) and the text
    (``message``); the message never contains a secret. Each kind below also subclasses the
    built-in a Python user would catch, so ``except FileNotFoundError`` works as well as
    ``except NotFoundError``; to catch them all:
    ``except ObjectStoreError as e: log.warning(safe_message(e))``."""

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
    """No object at the key (HTTP 404): a read, ``head_object``, the source of a copy, a delete on
    ``file://``. A ``FileNotFoundError`` too:
    ``try: data = get_object("a.csv", conf)`` / ``except NotFoundError: data = None``."""

    kind = "not_found"


class BucketNotFoundError(NotFoundError):
    """The bucket or container itself does not exist (the message names it), so no key in it
    can be read or written. A ``NotFoundError`` (so a ``FileNotFoundError``); catch it before that
    one to tell the two apart: ``except BucketNotFoundError as e: sys.exit(str(e))``."""

    kind = "bucket_not_found"


class PermissionDeniedError(ObjectStoreError, PermissionError):
    """The store refused the request (HTTP 401 or 403: bad or expired credentials, or no right to
    the key), or a credential provider failed (its exception is the cause). A
    ``PermissionError`` too: ``except PermissionDeniedError as e: print(safe_message(e))``."""

    kind = "permission"
    #: The refused request was signed by a credential provider's credentials, which will be
    #: fetched again: the call is worth one more try.
    stale_credentials: bool = False


class NoCredentialsError(PermissionDeniedError):
    """A configuration carries no credentials and none of its cloud's default sources has any
    (the message lists each source tried); pass keys, or ``anonymous=True`` for a public bucket:
    ``AWSConfig("us-east-1", "public-bucket", anonymous=True)``. A ``PermissionDeniedError`` (so
    a ``PermissionError``), raised by the first call, before any request reaches the store."""

    kind = "no_credentials"


class ObjectStoreTimeoutError(ObjectStoreError, TimeoutError):
    """A request or connect timeout (``ClientOptions.request_timeout_secs``,
    ``connect_timeout_secs``) once object_store's retries were used up. A ``TimeoutError`` too,
    and ``is_timeout(e)`` is True; ``except TimeoutError`` also catches ``DeadlineExceededError``:
    ``except ObjectStoreTimeoutError: data = get_object("a.csv", conf)  # once more``."""

    kind = "timeout"


class DeadlineExceededError(ObjectStoreTimeoutError):
    """The call did not finish within its deadline (``StaticConfig.call_timeout_secs`` or a
    ``deadline()`` block); the worker was told to stop it. An ``ObjectStoreTimeoutError`` (so a
    ``TimeoutError``): ``with deadline(5): data = get_object("a.csv", conf)`` raises it after
    5 s."""

    kind = "deadline"


class ObjectStoreConnectionError(ObjectStoreError, ConnectionError):
    """The store could not be reached, or the connection broke, once object_store's retries were
    used up. A ``ConnectionError`` too, and ``is_connection(e)`` is True:
    ``except ConnectionError as e: print(safe_message(e))``."""

    kind = "connection"


class EarlyEOFError(ObjectStoreError, EOFError):
    """The server closed the connection before the whole body arrived. An ``EOFError`` too, and
    ``is_early_eof(e)`` is True: ``except EarlyEOFError: data = get_object("a.csv", conf)``."""

    kind = "early_eof"


class HTTPStatusError(ObjectStoreError, OSError):
    """An HTTP error status no other class stands for (a 5xx once retries were used up, a 400,
    ...); ``status_code`` has it and the message the retry count. An ``OSError`` too:
    ``except HTTPStatusError as e: print(status_code(e))``."""

    kind = "http_status"


class AlreadyExistsError(ObjectStoreError, FileExistsError):
    """The key exists: ``put_object(..., mode="create")``, or a copy or rename with
    ``overwrite=False``. A ``FileExistsError`` too:
    ``try: put_object("lock", b"", conf, mode="create")`` / ``except AlreadyExistsError: ...``."""

    kind = "already_exists"


class PreconditionFailedError(ObjectStoreError):
    """A condition did not hold: ``if_match`` or ``if_unmodified_since`` on a read, a
    ``mode=UpdateVersion(...)`` write whose object changed meanwhile, or an object that changed
    under a read of many requests. Subclasses ``ObjectStoreError`` only:
    ``except PreconditionFailedError: meta = head_object("a.csv", conf)  # read it anew``."""

    kind = "precondition"


class NotModifiedError(ObjectStoreError):
    """The object is still as the read's ``if_none_match`` or ``if_modified_since`` said (HTTP
    304). Subclasses ``ObjectStoreError`` only:
    ``try: data = get_object("a.csv", conf, if_none_match=etag)`` /
    ``except NotModifiedError: data = cached``."""

    kind = "not_modified"


class RangeNotSatisfiableError(ObjectStoreError, ValueError):
    """A range that starts at or past the object's end (HTTP 416). The range reads cut ranges at
    the end instead, as slicing does; this reaches callers of the protocol only. A
    ``ValueError`` too: ``except RangeNotSatisfiableError as e: print(e.status_code)  # 416``."""

    kind = "range_not_satisfiable"


class NotSupportedError(ObjectStoreError, NotImplementedError):
    """The store cannot do that: a version read on ``file://``, an ``UpdateVersion`` put on the
    local store, tags on ``memory://``, ``sign_url`` on ``memory://``, ... A
    ``NotImplementedError`` too:
    ``except NotSupportedError: put_object("a.csv", data, conf)  # without attributes``."""

    kind = "not_supported"


class InvalidPathError(ObjectStoreError, ValueError):
    """The key is not a valid object key: a leading or trailing ``/``, an empty, ``.`` or ``..``
    segment, a control character. A ``ValueError`` too:
    ``except InvalidPathError: key = key.strip("/")``."""

    kind = "invalid_path"


class BufferTooSmallError(ObjectStoreError, ValueError):
    """The buffer given to ``get_object_into`` cannot hold the object (``object_size`` tells its
    size), or one of ``get_object_ranges_into``'s cannot hold its range (``object_size`` is None
    then); nothing was written. A ``ValueError`` too:
    ``except BufferTooSmallError as e: buf = bytearray(e.object_size)``."""

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
    """A configuration is wrong: an unknown or malformed option (the message names it), settings
    that contradict each other, a missing local directory, a worker binary not found. A
    ``ValueError`` too: ``except ConfigurationError as e: sys.exit(str(e))``."""

    kind = "config"


class ParseURLError(ConfigurationError):
    """A URL that cannot be parsed, or whose scheme object_store does not know. A
    ``ConfigurationError`` (so a ``ValueError``), and ``is_parse_url(e)`` is True:
    ``Config("nope://x")`` makes the first call raise it."""

    kind = "parse_url"


class DataError(ObjectStoreError, ValueError):
    """Stored bytes that do not decompress with the codec asked for (``get_object_stream(...,
    decompress=...)``). A ``ValueError`` too:
    ``except DataError: data = get_object("a.csv.gz", conf)  # read it as stored``."""

    kind = "data"


class StorageFullError(ObjectStoreError, OSError):
    """A local store's disk is full, or a quota or file size limit was reached; nothing was
    stored. An ``OSError`` too: ``except StorageFullError: shutil.rmtree(scratch)``."""

    kind = "storage_full"


class LocalFileError(ObjectStoreError, OSError):
    """The worker could not write a local file it was asked to (a download's target): ``errno``
    and ``filename`` say why and which. Not public: downloads raise the built-in ``OSError`` of
    that errno instead (``FileNotFoundError``, ``PermissionError``, ...), as a write by Python
    would: ``except OSError as e: print(e.filename, e.strerror)``."""

    kind = "local_file"


class ProtocolError(ObjectStoreError):
    """A frame between Python and the worker broke protocol.md: a bug on one side, or a worker
    binary of another version. Subclasses ``ObjectStoreError`` only:
    ``except ProtocolError as e: print(e.op, e.message)``."""

    kind = "protocol"


class WorkerCrashedError(ObjectStoreError):
    """The worker serving the call died (a crash, a kill, a stall the watchdog caught) with the
    call in flight, and the retries ``StaticConfig.crash_retries_for_reads`` /
    ``crash_retries_for_writes`` allow were used up; the worker is replaced. Also raised when a
    worker fails to start, and for calls made while the pool shuts down or the interpreter exits.
    Subclasses ``ObjectStoreError`` only:
    ``except WorkerCrashedError: put_object("a.csv", data, conf)  # on a fresh worker``."""

    kind = "worker_crashed"


class WorkerProtocolError(WorkerCrashedError, ProtocolError):
    """The worker wrote something that is not a valid frame; it was killed and will be replaced.
    Both a ``WorkerCrashedError`` and a ``ProtocolError``:
    ``except WorkerCrashedError as e: print(type(e).__name__)``."""

    kind = "worker_protocol"


class CancelledByCallerError(ObjectStoreError):
    """The worker stopped a request because its caller cancelled it (only seen by code that reads
    the answer to a cancelled request). Subclasses ``ObjectStoreError`` only:
    ``except CancelledByCallerError as e: print(e.op, e.path)``, where such answers are read."""

    kind = "cancelled"


class UnknownError(ObjectStoreError):
    """An error object_store reported that no other class stands for. Subclasses
    ``ObjectStoreError`` only, and ``is_unknown(e)`` is True:
    ``except UnknownError as e: print(safe_message(e))``."""

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
        LocalFileError,
        ParseURLError,
        ProtocolError,
        WorkerCrashedError,
        WorkerProtocolError,
        CancelledByCallerError,
        UnknownError,
    )
}


# A key that starts as a URL does ("s3://bucket/x"): the bucket was given twice, most likely.
_URL_START = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:/")


def error_from_wire(error: Any, op: str, path: str | None) -> ObjectStoreError:
    """The exception for an ``error`` map of a response (protocol.md section 6)."""
    if not isinstance(error, dict):
        return ProtocolError(f"malformed error field {error!r}", op=op, path=path)
    kind = error.get("kind")
    cls = ERROR_CLASSES.get(kind, UnknownError) if isinstance(kind, str) else UnknownError
    status = error.get("status")
    message = str(error.get("message", ""))
    if cls in (NotFoundError, InvalidPathError) and path is not None and _URL_START.match(path):
        message += (
            f" (the key {path!r} is a URL: a key is the path within the configuration's bucket, "
            "as in get_object('dir/file.csv', conf))"
        )
    made = cls(
        message,
        op=op,
        path=path,
        status=status if isinstance(status, int) else None,
    )
    if isinstance(made, LocalFileError):
        number, file = error.get("errno"), error.get("file")
        made.errno = number if isinstance(number, int) else None
        made.strerror = message
        made.filename = file if isinstance(file, str) else None
    return made


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
    error to begin with. None for another exception (as in RustyObjectStore.jl):
    ``except ObjectStoreError as e: log.warning("read failed: %s", safe_message(e))``."""
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
    """The HTTP status behind an error, if one is known; None for another exception (as in
    RustyObjectStore.jl): ``if status_code(e) == 429: time.sleep(1)``."""
    return e.status_code if isinstance(e, ObjectStoreError) else None


def is_connection(e: BaseException) -> bool:
    """Whether ``e`` is an ``ObjectStoreConnectionError`` (the store could not be reached, or the
    connection broke); False for any other exception, as in RustyObjectStore.jl:
    ``except Exception as e: retry = is_connection(e) or is_timeout(e)``."""
    return isinstance(e, ObjectStoreConnectionError)


def is_timeout(e: BaseException) -> bool:
    """Whether ``e`` is an ``ObjectStoreTimeoutError`` (a request timeout, or a deadline passed);
    False for any other exception, as in RustyObjectStore.jl:
    ``if is_timeout(e): time.sleep(1)``."""
    return isinstance(e, ObjectStoreTimeoutError)


def is_early_eof(e: BaseException) -> bool:
    """Whether ``e`` is an ``EarlyEOFError`` (a body cut short); False for any other exception,
    as in RustyObjectStore.jl: ``if is_early_eof(e): data = get_object(key, conf)``."""
    return isinstance(e, EarlyEOFError)


def is_parse_url(e: BaseException) -> bool:
    """Whether ``e`` is a ``ParseURLError`` (a URL that cannot be parsed); False for any other
    exception, as in RustyObjectStore.jl: ``if is_parse_url(e): sys.exit(f"bad URL: {e}")``."""
    return isinstance(e, ParseURLError)


def is_unknown(e: BaseException) -> bool:
    """Whether ``e`` is an ``UnknownError`` (an error of no known kind); False for any other
    exception, as in RustyObjectStore.jl: ``if is_unknown(e): log.error(safe_message(e))``."""
    return isinstance(e, UnknownError)
