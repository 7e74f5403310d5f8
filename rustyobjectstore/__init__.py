"""rustyobjectstore: fast object-store access (S3, Azure Blob, GCS, local files, memory) for Python,
served by a pool of Rust worker processes built on the ``object_store`` crate.

Every operation is a function of a key and a store configuration (``AWSConfig``, ``AzureConfig``,
``GCSConfig``, ``SnowflakeConfig`` or ``Config`` for any object_store URL), with an ``_async`` twin for asyncio:

    import rustyobjectstore as ros

    conf = ros.Config("memory://")  # or ros.AWSConfig("us-east-1", "mybucket"), ...
    ros.put_object("data.csv", b"1,2,3", conf)
    assert ros.get_object("data.csv", conf) == b"1,2,3"
    assert [m.path for m in ros.list_objects("", conf)] == ["data.csv"]

Errors are ``ObjectStoreError`` subclasses that also subclass the built-in you would catch
(``NotFoundError`` is a ``FileNotFoundError``). The README is the guide: credentials, the command
line, the fsspec filesystem (``rustyobjectstore.fsspec``) and how the library was tested.
"""

import inspect as _inspect
import sys as _sys

from rustyobjectstore import _config, _version
from rustyobjectstore._api import (
    bulk_delete_objects,
    bulk_delete_objects_async,
    copy_object,
    copy_object_async,
    current_metrics,
    current_metrics_async,
    delete_object,
    delete_object_async,
    get_object,
    get_object_async,
    get_object_into,
    get_object_into_async,
    get_object_range,
    get_object_range_async,
    get_object_ranges,
    get_object_ranges_async,
    get_object_ranges_into,
    get_object_ranges_into_async,
    get_object_stream,
    get_object_stream_async,
    get_object_to_file,
    get_object_to_file_async,
    get_object_view,
    get_object_view_async,
    head_object,
    head_object_async,
    invalidate_config,
    list_objects,
    list_objects_async,
    list_objects_stream,
    list_objects_stream_async,
    list_with_delimiter,
    list_with_delimiter_async,
    open_reader,
    open_reader_async,
    put_object,
    put_object_async,
    put_object_from_file,
    put_object_from_file_async,
    put_object_stream,
    put_object_stream_async,
    rename_object,
    rename_object_async,
    sign_url,
    sign_url_async,
)
from rustyobjectstore._auth import providers as _providers
from rustyobjectstore._auth.adapters import (
    azure_credential_provider,
    boto3_credential_provider,
    google_credential_provider,
)
from rustyobjectstore._auth.providers import AWSCredentials, BearerToken
from rustyobjectstore._config import (
    AWSConfig,
    AzureConfig,
    ClientOptions,
    Config,
    GCSConfig,
    SnowflakeConfig,
    StaticConfig,
)
from rustyobjectstore._errors import (
    AlreadyExistsError,
    BucketNotFoundError,
    BufferTooSmallError,
    CancelledByCallerError,
    ConfigurationError,
    DataError,
    DeadlineExceededError,
    EarlyEOFError,
    HTTPStatusError,
    InvalidPathError,
    NoCredentialsError,
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
    RangeNotSatisfiableError,
    StorageFullError,
    UnknownError,
    WorkerCrashedError,
    WorkerProtocolError,
    is_connection,
    is_early_eof,
    is_parse_url,
    is_timeout,
    is_unknown,
    safe_message,
    status_code,
)
from rustyobjectstore._ops.attributes import Attributes
from rustyobjectstore._ops.conditions import ReadOptions
from rustyobjectstore._ops.list import (
    AsyncListIterator,
    AsyncListStream,
    ListIterator,
    ListResult,
    ListStream,
    max_entries_per_chunk,
)
from rustyobjectstore._ops.meta import BulkDeleteFailure
from rustyobjectstore._ops.objectmeta import ObjectMeta, UpdateVersion
from rustyobjectstore._ops.reader import AsyncRangeReader, RangeReader
from rustyobjectstore._ops.stream import AsyncObjectReader, AsyncObjectWriter, ObjectWriter
from rustyobjectstore._worker.lifetime import init_object_store, shutdown_object_store
from rustyobjectstore._worker.metrics import Latency, Metrics, WorkerMetrics
from rustyobjectstore._worker.steps import deadline

# Re-bound here, with their docstrings, so that the API reference (pdoc) documents them.
StoreConfig = _config.StoreConfig
"""Any store configuration, the ``conf`` every operation takes:
``AzureConfig | AWSConfig | GCSConfig | SnowflakeConfig | Config``. For annotations:
``def load(key: str, conf: StoreConfig) -> bytes: return get_object(key, conf)``."""

CredentialProvider = _providers.CredentialProvider
"""A callable with no arguments returning ``AWSCredentials`` (S3) or ``BearerToken`` (Azure,
GCS), or a coroutine function returning one; a configuration's ``credential_provider`` calls it
on first use and again before the credentials expire:
``GCSConfig("mybucket", credential_provider=google_credential_provider())``."""

__version__: str = _version.__version__
"""This package's version, which its worker binary shares:
``print(rustyobjectstore.__version__)``."""

__all__ = [
    "AWSCredentials",
    "BearerToken",
    "CredentialProvider",
    "azure_credential_provider",
    "boto3_credential_provider",
    "google_credential_provider",
    "get_object_to_file",
    "get_object_to_file_async",
    "get_object_view",
    "get_object_view_async",
    "put_object_from_file",
    "put_object_from_file_async",
    "Latency",
    "Metrics",
    "WorkerMetrics",
    "current_metrics",
    "current_metrics_async",
    "AWSConfig",
    "AlreadyExistsError",
    "BucketNotFoundError",
    "AsyncListIterator",
    "Attributes",
    "AsyncListStream",
    "AsyncObjectReader",
    "AsyncObjectWriter",
    "AsyncRangeReader",
    "AzureConfig",
    "BufferTooSmallError",
    "BulkDeleteFailure",
    "CancelledByCallerError",
    "ClientOptions",
    "Config",
    "ConfigurationError",
    "DataError",
    "DeadlineExceededError",
    "EarlyEOFError",
    "GCSConfig",
    "HTTPStatusError",
    "InvalidPathError",
    "ListIterator",
    "ListResult",
    "ListStream",
    "NotFoundError",
    "NotModifiedError",
    "NotSupportedError",
    "ObjectMeta",
    "ObjectStoreConnectionError",
    "ObjectStoreError",
    "ObjectStoreTimeoutError",
    "ObjectWriter",
    "ParseURLError",
    "NoCredentialsError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "ProtocolError",
    "RangeReader",
    "ReadOptions",
    "RangeNotSatisfiableError",
    "StaticConfig",
    "SnowflakeConfig",
    "StoreConfig",
    "StorageFullError",
    "UnknownError",
    "UpdateVersion",
    "WorkerCrashedError",
    "WorkerProtocolError",
    "__version__",
    "bulk_delete_objects",
    "bulk_delete_objects_async",
    "copy_object",
    "copy_object_async",
    "deadline",
    "delete_object",
    "delete_object_async",
    "get_object",
    "get_object_async",
    "get_object_into",
    "get_object_into_async",
    "get_object_range",
    "get_object_range_async",
    "get_object_ranges",
    "get_object_ranges_async",
    "get_object_ranges_into",
    "get_object_ranges_into_async",
    "get_object_stream",
    "get_object_stream_async",
    "head_object",
    "head_object_async",
    "init_object_store",
    "is_connection",
    "is_early_eof",
    "is_parse_url",
    "is_timeout",
    "is_unknown",
    "list_objects",
    "list_objects_async",
    "list_objects_stream",
    "list_objects_stream_async",
    "list_with_delimiter",
    "list_with_delimiter_async",
    "open_reader",
    "open_reader_async",
    "put_object",
    "put_object_async",
    "put_object_stream",
    "put_object_stream_async",
    "rename_object",
    "rename_object_async",
    "shutdown_object_store",
    "sign_url",
    "sign_url_async",
    "status_code",
    "max_entries_per_chunk",
    "safe_message",
    "invalidate_config",
]

# Public classes say they are rustyobjectstore's (a traceback's exception, a repr, a pickle),
# wherever in the layers they are defined. Two kinds keep their defining module, because the API
# reference (pdoc) reads what it documents of them from that module: functions (their string
# annotations resolve there) and classes that declare fields (a dataclass, a named tuple, a typed
# dict: the fields' docs are in the class's source).
for _name in __all__:
    _public = globals()[_name]
    if (
        isinstance(_public, type)
        and _public.__module__.startswith("rustyobjectstore._")
        and not _inspect.get_annotations(_public)
    ):
        _public.__module__ = __name__

# Objects pickled before the package took its layers name their classes' old modules; those
# names still import, as the modules the classes live in now.
for _old, _new in {
    "_objectmeta": "_ops.objectmeta",
    "_providers": "_auth.providers",
    "_directories": "_ops.list",
    "_metrics": "_worker.metrics",
}.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _sys.modules[f"{__name__}.{_new}"])
