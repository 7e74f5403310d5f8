"""rustyobjectstore: fast object-store access (S3, Azure Blob, GCS, local files, memory) for Python,
served by a pool of Rust worker processes built on the ``object_store`` crate."""

__version__ = "0.1.0"

from rustyobjectstore._api import (  # noqa: E402
    AsyncListIterator,
    ListIterator,
    delete_object,
    delete_object_async,
    get_object,
    get_object_async,
    get_object_into,
    get_object_into_async,
    get_object_range,
    get_object_range_async,
    head_object,
    head_object_async,
    init_object_store,
    list_objects,
    list_objects_async,
    put_object,
    put_object_async,
    shutdown_object_store,
)
from rustyobjectstore._config import (  # noqa: E402
    AWSConfig,
    AzureConfig,
    ClientOptions,
    Config,
    GCSConfig,
    StaticConfig,
)
from rustyobjectstore._errors import (  # noqa: E402
    AlreadyExistsError,
    BufferTooSmallError,
    ConfigurationError,
    EarlyEOFError,
    HTTPStatusError,
    InvalidPathError,
    NotFoundError,
    NotModifiedError,
    NotSupportedError,
    ObjectStoreConnectionError,
    ObjectStoreError,
    ObjectStoreTimeoutError,
    ParseURLError,
    PermissionDeniedError,
    PreconditionFailedError,
    ProtocolError,
    UnknownError,
    WorkerCrashedError,
    is_connection,
    is_early_eof,
    is_parse_url,
    is_timeout,
    is_unknown,
    status_code,
)
from rustyobjectstore._objectmeta import ObjectMeta  # noqa: E402

__all__ = [
    "AWSConfig", "AlreadyExistsError", "AsyncListIterator", "AzureConfig", "BufferTooSmallError",
    "ClientOptions", "Config", "ConfigurationError", "EarlyEOFError", "GCSConfig", "HTTPStatusError",
    "InvalidPathError", "ListIterator", "NotFoundError", "NotModifiedError", "NotSupportedError",
    "ObjectMeta", "ObjectStoreConnectionError", "ObjectStoreError", "ObjectStoreTimeoutError",
    "ParseURLError", "PermissionDeniedError", "PreconditionFailedError", "ProtocolError",
    "StaticConfig", "UnknownError", "WorkerCrashedError", "__version__", "delete_object",
    "delete_object_async", "get_object", "get_object_async", "get_object_into",
    "get_object_into_async", "get_object_range", "get_object_range_async", "head_object",
    "head_object_async", "init_object_store", "is_connection", "is_early_eof", "is_parse_url",
    "is_timeout", "is_unknown", "list_objects", "list_objects_async", "put_object",
    "put_object_async", "shutdown_object_store", "status_code",
]
