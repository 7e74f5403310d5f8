"""Credentials the way cloud jobs have them: each cloud's default chain, in its own SDK's order.

A configuration that carries no credentials of its own is completed here, in Python, before its
store is registered, so the worker only ever sees explicit object_store options: values from the
environment and the shared files (which object_store cannot read, or reads only through
``from_env``), and, where a chain ends in a metadata service that object_store queries itself, a
quick probe of that service, once per process, so that a machine with no credentials anywhere gets
a ``NoCredentialsError`` listing what was tried within about two seconds instead of a stall.

Explicit values always win; ``skip_signature`` (``anonymous=True``) turns the chain off. Files are
read, never written. Nothing here ever puts a value into an error message.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from rustyobjectstore._auth.aws import aws_options
from rustyobjectstore._auth.aws_profiles import AwsSource
from rustyobjectstore._auth.azure import azure_options
from rustyobjectstore._auth.chain import Options, is_true
from rustyobjectstore._auth.gcs import gcs_options
from rustyobjectstore._auth.schemes import AZURE, GCS, S3, bucket_of, cloud_of
from rustyobjectstore._errors import ConfigurationError, ParseURLError
from rustyobjectstore._worker.binary import find_worker, unknown_option
from rustyobjectstore._worker.lifetime import running_pool

_ANONYMOUS = ("anon", "anonymous")
# The options this layer takes itself: the worker never sees them.
_OWN = frozenset({*_ANONYMOUS, "profile", "aws_profile"})


def _refuse_unknown_options(url: str, options: Mapping[str, str]) -> None:
    """A misspelt option is reported as one, before a credential chain runs (which would report
    it as missing credentials, after looking everywhere): the worker, which builds the store,
    says which names its cloud takes."""
    names = tuple(sorted(set(options) - _OWN))
    if names:
        parts = urlsplit(url)
        # Only what tells the cloud apart: no user, password or query (a SAS) on a command line.
        bare = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
        message = _unknown_option(bare, names)
        if message is not None:
            raise ConfigurationError(message)


def _refuse_no_bucket(url: str, options: Mapping[str, str]) -> None:
    """``s3://`` alone names no bucket: said before a credential chain runs (which would report
    missing credentials), unless an option names the bucket."""
    if bucket_of(url) != "":
        return
    if any(name.endswith(("bucket", "bucket_name", "container_name")) for name in options):
        return
    scheme = url.partition("://")[0]
    raise ParseURLError(
        f"{url!r} names no bucket: a store URL is {scheme}://BUCKET (or CONTAINER), optionally "
        "followed by a prefix, as in s3://my-bucket/data"
    )


@functools.lru_cache(maxsize=256)
def _unknown_option(url: str, names: tuple[str, ...]) -> str | None:
    pool = running_pool()
    try:
        path = find_worker(pool.settings.worker_path if pool is not None else None)
    except ConfigurationError:
        return None  # no worker to ask: the first call says why
    return unknown_option(path, url, names)


def url_options(url: str, options: Mapping[str, str]) -> tuple[Options, AwsSource | None]:
    """A ``Config``'s options completed by the chain of the cloud its URL names (and, as from
    ``aws_options``, an AWS profile's refreshing source); ``anon`` or ``anonymous`` (``true``)
    there is object_store's ``skip_signature``."""
    out = dict(options)
    for name in _ANONYMOUS:
        if name in out:
            if is_true(out.pop(name)):
                out["skip_signature"] = "true"
    scheme, _, rest = url.partition("://")
    bucket = f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}"
    cloud = cloud_of(url)
    if cloud is not None:
        _refuse_unknown_options(url, out)
        _refuse_no_bucket(url, out)
    if cloud == S3:
        return aws_options(out, where=bucket)
    if cloud == AZURE:
        return azure_options(out, where=bucket), None
    if cloud == GCS:
        return gcs_options(out, where=bucket), None
    return out, None
