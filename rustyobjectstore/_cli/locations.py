"""Where a command reads or writes: a local path (``-`` for standard input or output) or an object
URL, split into the store it names and a key; a key or path with wildcards also names the part
before them, which the names of what it matches are relative to."""

from __future__ import annotations

import mimetypes
import os
import re
from dataclasses import dataclass

from rustyobjectstore._auth.schemes import AZURE, CLOUD_OF_SCHEME, LOCAL_SCHEMES
from rustyobjectstore._cli.patterns import split_at_wildcard
from rustyobjectstore._config import Config
from rustyobjectstore._redact import hide_query

STDIO = "-"

SUPPORTED = (
    "file:///abs/path/key, s3://bucket/key (or s3a://), az://container/key (or azure://, "
    "abfs://, abfss://, adl://), gs://bucket/key, snowflake://STAGE/key, memory:///key"
)
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class CLIError(Exception):
    """An error to report with exit status 1 (a bad URL, a local path problem, ...)."""


class UsageError(Exception):
    """A misuse argparse cannot see (both sides of a copy local): exit status 2."""


@dataclass(frozen=True)
class ObjectURL:
    """An object URL split into the store it names and the key inside that store."""

    text: str
    config: Config
    key: str

    def require_key(self) -> str:
        if not self.key:
            raise CLIError(f"{hide_query(self.text)!r} names no object: its key is empty")
        return self.key

    @property
    def root(self) -> str:
        """The URL of the store's root, keys are appended to it: ``s3://bucket/``."""
        return self.text[: len(self.text) - len(self.key)] if self.key else with_slash(self.text)

    def at(self, key: str) -> ObjectURL:
        return ObjectURL(self.root + key, self.config, key)

    def same_store(self, other: ObjectURL) -> bool:
        return self.config.spec() == other.config.spec()

    def attributes_for(self, name: str, given: dict[str, str]) -> dict[str, str] | None:
        """The attributes of an object named ``name`` written here: those ``given``, with a
        Content-Type guessed from the name unless one was given (not on ``file://``, which keeps
        none)."""
        attributes = dict(given)
        scheme = self.config.spec().url.partition(":")[0]
        if scheme not in LOCAL_SCHEMES and not any(k.lower() == "content-type" for k in attributes):
            guessed, _ = mimetypes.guess_type(name, strict=False)
            if guessed:
                attributes["Content-Type"] = guessed
        return attributes or None


def with_slash(text: str) -> str:
    return text if text.endswith("/") else text + "/"


def is_url(text: str) -> bool:
    return _URL_RE.match(text) is not None


def parse_url(text: str, options: dict[str, str]) -> ObjectURL:
    """``file:///abs/path/key`` is the key ``abs/path/key`` of ``Config("file:///")``; the others
    are ``scheme://bucket/key``, the key of ``Config("scheme://bucket", options)``."""
    match = _URL_RE.match(text)
    if match is None:
        raise CLIError(f"not an object URL: {hide_query(text)!r} (expected one of: {SUPPORTED})")
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme == "memory":
        # The store lives in this command's worker and ends with it: a scratch space that the
        # lines of one `run` batch share.
        return ObjectURL(text, Config("memory:///"), rest.lstrip("/"))
    if scheme == "file":
        host, slash, key = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise CLIError(
                f"a file URL needs an absolute path, as in file:///abs/path/key; "
                f"got {hide_query(text)!r}"
            )
        return ObjectURL(text, Config("file:///", options), key)
    if scheme == "snowflake":
        stage, _, key = rest.partition("/")
        if not stage:
            raise CLIError(f"{hide_query(text)!r} names no stage: expected snowflake://STAGE/key")
        return ObjectURL(text, Config(f"snowflake://{stage}/", options), key)
    store_scheme = CLOUD_OF_SCHEME.get(scheme)
    if store_scheme is None:
        raise CLIError(
            f"unsupported URL scheme {scheme + '://'!r} in {hide_query(text)!r} "
            f"(expected one of: {SUPPORTED})"
        )
    bucket, _, key = rest.partition("/")
    if not bucket:
        what = "container" if store_scheme == AZURE else "bucket"
        raise CLIError(f"{hide_query(text)!r} names no {what}: expected {scheme}://{what}/key")
    return ObjectURL(text, Config(f"{store_scheme}://{bucket}", options), key)


@dataclass(frozen=True)
class Tree:
    """What a source names when it is more than one object or file: everything under ``base``
    (a key prefix ending in ``/``, or a local directory) whose name relative to it matches
    ``pattern`` (None: every name)."""

    base: str
    pattern: str | None


def remote_tree(url: ObjectURL, recursive: bool) -> Tree | None:
    """The tree a source URL names: by its wildcards, or, with ``-r``, everything under its key
    taken as a directory; None for one object."""
    base, pattern = split_at_wildcard(url.key)
    if pattern is not None:
        return Tree(base, pattern)
    if recursive:
        return Tree(url.key.rstrip("/") + "/" if url.key else "", None)
    return None


def local_tree(path: str, recursive: bool) -> Tree | None:
    """The tree a local source names, as ``remote_tree`` does, with ``/`` between the names in
    the pattern whatever the platform."""
    base, pattern = split_at_wildcard(path.replace(os.sep, "/"))
    if pattern is not None:
        return Tree(base or "./", pattern)
    if recursive and os.path.isdir(path):
        return Tree(with_slash(path.replace(os.sep, "/")), None)
    return None
