"""``sign_url``: a pre-signed URL for one key, made by the worker with the store's credentials
(object_store's ``Signer``: S3 query-string signing, an Azure service SAS, a GCS signed URL), for a
client that has none of them."""

from __future__ import annotations

import math
from datetime import timedelta

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import ProtocolError
from rustyobjectstore._ops.calls import call, crash_retried, route
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.connection import response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step

METHODS = ("GET", "PUT")


def expiry_seconds(expires_in: float | timedelta) -> int:
    """Whole seconds, rounded up: a URL never expires sooner than asked."""
    if isinstance(expires_in, timedelta):
        seconds = expires_in.total_seconds()
    elif isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        seconds = float(expires_in)
    else:
        raise TypeError(f"expires_in must be seconds or a timedelta, got {expires_in!r}")
    if not 0 < seconds < math.inf:
        raise ValueError(f"expires_in must be a positive, finite time, got {expires_in!r}")
    return math.ceil(seconds)


def sign(
    pool: Pool, conf: StoreConfig, method: str, path: str, expires_in: float | timedelta
) -> Step[str]:
    if method not in METHODS:
        raise ValueError(f"a URL is signed for {' or '.join(METHODS)}, not {method!r}")
    seconds = expiry_seconds(expires_in)

    return (yield from _signed(pool, conf, method, path, seconds))


@crash_retried(write=False)
def _signed(pool: Pool, conf: StoreConfig, method: str, path: str, seconds: int) -> Step[str]:
    conn, store = yield from route(pool, conf, path)
    message = codec.sign(store, path, method, seconds)
    response = yield from call(conn, message, "sign", path)
    url = response_field(response, "url")
    if not isinstance(url, str):
        raise ProtocolError(f"a sign answer's url is {type(url).__name__}, not str")
    return url
