"""The one table of URL schemes: which cloud a store URL names. The worker builds stores from the
same URLs with object_store's ``ObjectStoreScheme::parse``, which reads these schemes alike
(``tests/test_layout.py`` holds the two in step); the command line, the credential chains, the
fsspec storage options and the fsspec filesystems all look schemes up here.
"""

from __future__ import annotations

S3 = "s3"
AZURE = "az"
GCS = "gs"

#: A store URL's scheme -> its cloud (the canonical scheme).
CLOUD_OF_SCHEME: dict[str, str] = {
    "s3": S3,
    "s3a": S3,
    "az": AZURE,
    "azure": AZURE,
    "abfs": AZURE,
    "abfss": AZURE,
    "adl": AZURE,
    "gs": GCS,
}
#: Stores with no cloud behind them.
LOCAL_SCHEMES = ("file", "memory")
#: The fsspec protocol names of each cloud's filesystem, as s3fs, gcsfs and adlfs register them
#: ("gcs" is gcsfs's name, not a store URL's scheme: the filesystem writes "gs://").
FSSPEC_PROTOCOLS: dict[str, tuple[str, ...]] = {
    S3: ("s3", "s3a"),
    GCS: ("gs", "gcs"),
    AZURE: ("az", "abfs", "abfss"),
}


def cloud_of(url: str) -> str | None:
    """The cloud a store URL names, by its scheme or, for ``https://``, by the service's host;
    None for local stores and plain HTTP servers."""
    scheme, _, rest = url.partition("://")
    scheme, host = scheme.lower(), rest.split("/", 1)[0].lower()
    if scheme in CLOUD_OF_SCHEME:
        return CLOUD_OF_SCHEME[scheme]
    if scheme != "https":
        return None
    if host.endswith("amazonaws.com"):
        return S3
    if host.endswith((".blob.core.windows.net", ".dfs.core.windows.net")):
        return AZURE
    if host == "storage.googleapis.com":
        return GCS
    return None


def bucket_of(url: str) -> str | None:
    """The bucket (or container) a cloud-scheme store URL names: its first segment, without
    ``abfs://``'s ``@account``; "" when it names none; None for other schemes."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLOUD_OF_SCHEME:
        return None
    return rest.split("/", 1)[0].split("@", 1)[0]
