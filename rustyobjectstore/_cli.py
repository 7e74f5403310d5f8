"""The command line: ``python -m rustyobjectstore`` (also installed as ``rustyobjectstore``).

Subcommands ``cp``, ``ls``, ``cat``, ``rm`` and ``stat`` act on object URLs (``file:///abs/path/key``,
``s3://bucket/key``, ``az://container/key``, ``azure://container/key``, ``gs://bucket/key``). Store
options are object_store option names given with ``-o NAME=VALUE``. Exit status: 0 on success, 1 on an
error (printed as ``rustyobjectstore: error: <message>``), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from rustyobjectstore._api import (
    delete_object,
    get_object_stream,
    get_object_to_file,
    head_object,
    list_objects,
    list_with_delimiter,
    put_object_from_file,
    put_object_stream,
)
from rustyobjectstore._auth.schemes import AZURE, CLOUD_OF_SCHEME
from rustyobjectstore._config import Config
from rustyobjectstore._errors import ConfigurationError, ObjectStoreError
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._redact import hide_query
from rustyobjectstore._version import __version__
from rustyobjectstore._worker.binary import find_worker, worker_version_line
from rustyobjectstore._worker.codec import PROTOCOL_VERSION

PROG = "rustyobjectstore"
STDIO = "-"

_SUPPORTED = (
    "file:///abs/path/key, s3://bucket/key (or s3a://), az://container/key (or azure://, "
    "abfs://, abfss://, adl://), gs://bucket/key"
)
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

_DESCRIPTION = """\
Copy, list, read, delete and inspect objects in S3, Azure Blob Storage, Google Cloud Storage or
local files, through rustyobjectstore's Rust workers.

URLs: file:///abs/path/key, s3://bucket/key, az://container/key (or azure://),
gs://bucket/key. A URL's key is taken literally (no percent-decoding). Store options are
object_store option names, before or after the command: -o region=us-east-1
-o endpoint=http://127.0.0.1:9000 -o allow_http=true (a file:// store takes none).

Credentials: keys given with -o win; otherwise each cloud's default chain finds them (AWS: the
environment, --profile or AWS_PROFILE in the shared files, web identity, container credentials,
instance metadata; Azure: AZURE_STORAGE_CONNECTION_STRING, key or SAS variables, a client
secret, workload or managed identity, the Azure CLI; GCS: GOOGLE_APPLICATION_CREDENTIALS,
gcloud's application-default file, the metadata server). --anonymous sends unsigned requests."""

_EPILOG = """\
exit status: 0 on success, 1 on an error, 2 on a usage error.

examples:
  %(prog)s cp ./data.bin s3://bucket/dir/data.bin -o region=us-east-1
  %(prog)s cp s3://bucket/dir/data.bin ./copy.bin -o region=us-east-1
  %(prog)s ls file:///tmp/dir/
  %(prog)s ls -r s3://bucket/logs/2026- -o region=us-east-1
  %(prog)s cat gs://bucket/notes.txt | head"""


class CLIError(Exception):
    """An error to report with exit status 1 (bad URL, local path problem, ...)."""


class _UsageError(Exception):
    """A misuse argparse cannot see (both cp sides local): exit status 2."""


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


def is_url(text: str) -> bool:
    return _URL_RE.match(text) is not None


def parse_url(text: str, options: dict[str, str]) -> ObjectURL:
    """``file:///abs/path/key`` is the key ``abs/path/key`` of ``Config("file:///")``; the others
    are ``scheme://bucket/key``, the key of ``Config("scheme://bucket", options)``."""
    match = _URL_RE.match(text)
    if match is None:
        raise CLIError(f"not an object URL: {hide_query(text)!r} (expected one of: {_SUPPORTED})")
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme == "memory":
        raise CLIError(
            "memory:// stores live inside one process, so the command line cannot reach "
            "them; use file://, s3://, az:// or gs://"
        )
    if scheme == "file":
        host, slash, key = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise CLIError(
                f"a file URL needs an absolute path, as in file:///abs/path/key; "
                f"got {hide_query(text)!r}"
            )
        return ObjectURL(text, Config("file:///", options), key)
    store_scheme = CLOUD_OF_SCHEME.get(scheme)
    if store_scheme is None:
        raise CLIError(
            f"unsupported URL scheme {scheme + '://'!r} in {hide_query(text)!r} "
            f"(expected one of: {_SUPPORTED})"
        )
    bucket, _, key = rest.partition("/")
    if not bucket:
        what = "container" if store_scheme == AZURE else "bucket"
        raise CLIError(f"{hide_query(text)!r} names no {what}: expected {scheme}://{what}/key")
    return ObjectURL(text, Config(f"{store_scheme}://{bucket}", options), key)


def _option(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``-o``. Its messages never repeat the text: it may be a secret."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(
            "expected NAME=VALUE (an object_store option name, '=' and its value)"
        )
    if not name.strip():
        raise argparse.ArgumentTypeError("expected NAME=VALUE: the option name is empty")
    return name.strip(), value


def _add_option_flag(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument(
        "-o",
        "--option",
        dest=dest,
        action="append",
        type=_option,
        default=[],
        metavar="NAME=VALUE",
        help="an object_store option of the store, e.g. region=us-east-1 (repeatable)",
    )


class _VersionAction(argparse.Action):
    """``--version``: this package's version, then the worker's and its protocol, found as every
    call finds it; a worker that cannot run here is reported (exit status 1), not hidden."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{PROG} {__version__} (protocol {PROTOCOL_VERSION})")
        try:
            path = find_worker()
            print(f"worker: {worker_version_line(path)} at {path}")
        except ConfigurationError as e:
            print(f"worker: {e}")
            parser.exit(1)
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    # -o is accepted before the command too (else argparse would echo its value as a bad command).
    common = argparse.ArgumentParser(add_help=False)
    _add_option_flag(common, "options")
    common.add_argument(
        "--profile",
        metavar="NAME",
        help="the AWS profile of the shared files (~/.aws/credentials, ~/.aws/config) for s3:// "
        "URLs; without it (and without keys in -o) the credentials come from the cloud's "
        "default chain: the environment, AWS_PROFILE, instance metadata ...",
    )
    common.add_argument(
        "--anonymous",
        action="store_true",
        help="send unsigned requests (a public bucket or container): no credentials are looked for",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_option_flag(parser, "leading_options")
    parser.add_argument(
        "--version", action=_VersionAction, help="print the package's and the worker's versions"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    cp = commands.add_parser(
        "cp",
        parents=[common],
        help="copy a local file to an object, an object to a local file, or an object to an object",
        description="Copy SRC to DST. Either side may be a local path ('-' for stdin or stdout) or "
        "an object URL, but not both local. A download goes to a temporary file in the "
        "destination's directory, renamed into place when complete. A DST directory "
        "(or URL ending in '/') receives the source's file name. Options (-o) apply to "
        "both stores of a URL-to-URL copy.",
    )
    cp.add_argument("src", metavar="SRC")
    cp.add_argument("dst", metavar="DST")

    ls = commands.add_parser(
        "ls",
        parents=[common],
        help="list one level under the URL's key (-r: every key below it)",
        description="One level, as 'aws s3 ls' has it: 'PRE NAME/' for each common prefix (a "
        "\"directory\"), then 'SIZE LAST_MODIFIED NAME' for each object directly there, names "
        "relative to the URL's directory. With -r, every object whose key starts with the URL's "
        "key, with its whole key. The URL's key is a plain string prefix (file:///tmp/d/ lists "
        "under tmp/d/; file:///tmp/d also matches tmp/dx).",
    )
    ls.add_argument("url", metavar="URL")
    ls.add_argument("-r", "--recursive", action="store_true", help="every key below, not one level")
    cp.set_defaults(command_parser=cp)
    ls.set_defaults(command_parser=ls)

    for name, text in (
        ("cat", "write an object's bytes to stdout"),
        ("rm", "delete an object"),
        ("stat", "print an object's path, size, last_modified, e_tag and version"),
    ):
        sub = commands.add_parser(
            name, parents=[common], help=text, description=text[0].upper() + text[1:] + "."
        )
        sub.add_argument("url", metavar="URL")
        sub.set_defaults(command_parser=sub)
    return parser


# --- commands --------------------------------------------------------------------------------------


def _write_all(out: BinaryIO, data: bytes) -> None:
    """Writes every byte. A buffered write can report a short count instead of raising (a pipe whose
    reader went away after taking part of it): write the rest, which then raises."""
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written:]
    out.flush()


COPY_CHUNK = 8 * 1024 * 1024


def _pump(read: Callable[[int], bytes], write: Callable[[bytes], object]) -> None:
    """Copies in chunks until ``read`` returns nothing: memory stays bounded."""
    while chunk := read(COPY_CHUNK):
        write(chunk)


class ProgressBar:
    """Bytes, rate and ETA on one redrawn line of a terminal; silent when ``out`` is not a tty."""

    def __init__(self, label: str, out: TextIO, interval: float = 0.1) -> None:
        self.label = label
        self.out = out
        self.enabled = out.isatty()
        self.interval = interval
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if not self.enabled or (now - self.drawn_at < self.interval and not final):
            return
        self.drawn_at = now
        self.out.write("\r" + self.line(done, total, now - self.started) + "\x1b[K")
        self.out.flush()
        self.drawn = True

    def line(self, done: int, total: int | None, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}  {_size(done)}"
        if total is not None:
            text += f" / {_size(total)}"
        text += f"  {_size(int(rate))}/s"
        if total is not None and rate > 0 and done < total:
            text += f"  ETA {int((total - done) / rate)}s"
        return text

    def close(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.out.flush()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"


@contextlib.contextmanager
def _progress(label: str) -> Iterator[ProgressBar]:
    bar = ProgressBar(label, sys.stderr)
    try:
        yield bar
    finally:
        bar.close()


def _key_basename(key: str) -> str:
    name = key.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise CLIError("the source names no object")
    return name


def cmd_cp(src: str, dst: str, options: dict[str, str]) -> None:
    """Files and objects move in parts, in bounded memory, with a progress bar on a terminal."""
    src_is_url, dst_is_url = is_url(src), is_url(dst)
    if not src_is_url and not dst_is_url:
        raise _UsageError(
            "at least one of SRC and DST must be an object URL (for a local copy, use cp(1))"
        )
    if src_is_url:
        source = parse_url(src, options)
        source_key = source.require_key()
        name = _key_basename(source.key)
    else:
        name = os.path.basename(src.rstrip(os.sep)) if src != STDIO else ""
    label = os.path.basename(name) or "stdin"

    if dst_is_url:
        target = parse_url(dst, options)
        key = target.key
        if not key or key.endswith("/"):
            if not name:
                raise CLIError(
                    f"{hide_query(dst)} ends in '/': give the object's full key when copying from stdin"
                )
            key += name
        with _progress(label) as bar:
            if src_is_url:
                with (
                    get_object_stream(source_key, source.config, progress=bar) as reader,
                    put_object_stream(key, target.config) as writer,
                ):
                    _pump(reader.read, writer.write)
            elif src == STDIO:
                with put_object_stream(key, target.config, progress=bar) as writer:
                    _pump(sys.stdin.buffer.read, writer.write)
            else:
                put_object_from_file(key, src, target.config, progress=bar)
    elif dst == STDIO:
        _cat(source_key, source.config)
    else:
        path = os.path.join(dst, name) if os.path.isdir(dst) else dst
        with _progress(label) as bar:
            get_object_to_file(source_key, path, source.config, progress=bar)


def _cat(key: str, config: Config) -> None:
    with get_object_stream(key, config) as reader:
        _pump(reader.read, lambda chunk: _write_all(sys.stdout.buffer, chunk))


def _iso(meta: ObjectMeta, timespec: str) -> str:
    return meta.last_modified.isoformat(timespec=timespec)


def cmd_ls(url: str, options: dict[str, str], out: TextIO, *, recursive: bool = False) -> None:
    target = parse_url(url, options)
    if not recursive:
        level = list_with_delimiter(target.key, target.config)
        directory = target.key[: target.key.rfind("/") + 1]  # what the names are relative to
        for prefix in level.common_prefixes:
            out.write(f"{'PRE':>12}  {prefix[len(directory) :]}/\n")
        for meta in level.objects:
            out.write(f"{meta.size:>12}  {_iso(meta, 'seconds')}  {meta.path[len(directory) :]}\n")
        out.flush()
        return
    listing = list_objects(target.key, target.config)
    try:
        for meta in listing:
            out.write(f"{meta.size:>12}  {_iso(meta, 'seconds')}  {meta.path}\n")
        out.flush()
    finally:
        listing.close()


def cmd_cat(url: str, options: dict[str, str]) -> None:
    target = parse_url(url, options)
    _cat(target.require_key(), target.config)


def cmd_rm(url: str, options: dict[str, str]) -> None:
    target = parse_url(url, options)
    delete_object(target.require_key(), target.config)


def cmd_stat(url: str, options: dict[str, str], out: TextIO) -> None:
    target = parse_url(url, options)
    meta = head_object(target.require_key(), target.config)
    fields: list[tuple[str, object]] = [
        ("path", meta.path),
        ("size", meta.size),
        ("last_modified", _iso(meta, "microseconds")),
        ("e_tag", meta.e_tag),
        ("version", meta.version),
    ]
    for name, value in fields:
        out.write(f"{name}: {'-' if value is None else value}\n")
    out.flush()


# --- entry point -----------------------------------------------------------------------------------


def _error(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()
    return 1


def _os_error_message(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush is quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options: dict[str, str] = dict([*args.leading_options, *args.options])
    if args.profile is not None:
        options["profile"] = args.profile
    if args.anonymous:
        options["skip_signature"] = "true"
    command: str = args.command
    actions: dict[str, Callable[[], None]] = {
        "cp": lambda: cmd_cp(args.src, args.dst, options),
        "ls": lambda: cmd_ls(args.url, options, sys.stdout, recursive=args.recursive),
        "cat": lambda: cmd_cat(args.url, options),
        "rm": lambda: cmd_rm(args.url, options),
        "stat": lambda: cmd_stat(args.url, options, sys.stdout),
    }
    try:
        actions[command]()
    except _UsageError as exc:
        command_parser: argparse.ArgumentParser = args.command_parser
        command_parser.error(str(exc))
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except ObjectStoreError as exc:
        return _error(str(exc))
    except CLIError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(_os_error_message(exc))
    except KeyboardInterrupt:
        return 130
    return 0
