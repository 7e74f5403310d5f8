"""The command line's arguments: every command, its options and its help, with examples."""

from __future__ import annotations

import argparse

from rustyobjectstore._errors import ConfigurationError
from rustyobjectstore._version import __version__
from rustyobjectstore._worker.binary import find_worker, worker_version_line
from rustyobjectstore._worker.codec import PROTOCOL_VERSION

PROG = "rustyobjectstore"
DEFAULT_WORKERS = 64

DESCRIPTION = """\
Copy, move, list, read, delete and inspect objects in S3, Azure Blob Storage, Google Cloud
Storage, Snowflake stages or local files, through rustyobjectstore's Rust workers: many files at
once, big ones in parallel parts, in bounded memory.

URLs: file:///abs/path/key, s3://bucket/key, az://container/key (or azure://, abfs://),
gs://bucket/key, snowflake://STAGE/key, memory:///key (a store that ends with the command,
shared by the lines of one run batch). Source keys and local paths may hold wildcards (quote
them): '*' and '?' within a path segment, '**' across segments, as in
s3://bucket/logs/2026-*/**/*.gz. Store options are object_store option names, before or after the
command: -o region=us-east-1 -o endpoint=http://127.0.0.1:9000 -o allow_http=true.

Credentials: keys given with -o win; otherwise each cloud's default chain finds them (AWS: the
environment, --profile or AWS_PROFILE in the shared files, web identity, container credentials,
instance metadata; Azure: AZURE_STORAGE_CONNECTION_STRING, key or SAS variables, a client
secret, workload or managed identity, the Azure CLI; GCS: GOOGLE_APPLICATION_CREDENTIALS,
gcloud's application-default file, the metadata server). --anonymous sends unsigned requests."""

EPILOG = """\
exit status: 0 on success, 1 if anything failed (each failure listed once), 2 on a usage error,
130 when interrupted.

examples:
  %(prog)s cp ./data.bin s3://bucket/dir/data.bin -o region=us-east-1
  %(prog)s cp -r ./parquet/ s3://bucket/tables/t1/
  %(prog)s cp 's3://bucket/logs/2026-12-*/*.gz' ./logs/
  %(prog)s mv -r s3://bucket/incoming/ s3://bucket/archive/
  %(prog)s ls -r --human-readable --summarize s3://bucket/logs/
  %(prog)s du -H 's3://bucket/logs/**/*.gz'
  %(prog)s rm -r --dryrun s3://bucket/tmp/
  echo hello | %(prog)s pipe gs://bucket/notes.txt
  %(prog)s presign s3://bucket/report.csv --expires 3600"""


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


def _metadata(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return name.strip(), value


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def _seconds(text: str) -> float:
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not n > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return n


def _add_option_flag(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument(
        "-o", "--option", dest=dest, action="append", type=_option, default=[],
        metavar="NAME=VALUE",
        help="an object_store option of the store, e.g. region=us-east-1 (repeatable)",
    )  # fmt: skip


class _Rule(argparse.Action):
    """``--include`` / ``--exclude``, kept in the order given: the last that matches wins."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
        option_string: str | None = None,
    ) -> None:  # fmt: skip
        rules = list(getattr(namespace, "rules", None) or [])
        rules.append((option_string == "--include", str(values)))
        namespace.rules = rules


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


def _common() -> argparse.ArgumentParser:
    # -o is accepted before the command too (else argparse would echo its value as a bad command).
    common = argparse.ArgumentParser(add_help=False)
    _add_option_flag(common, "options")
    common.add_argument(
        "--profile", metavar="NAME",
        help="the AWS profile of the shared files (~/.aws/credentials, ~/.aws/config) for s3:// "
        "URLs; without it (and without keys in -o) the credentials come from the cloud's "
        "default chain: the environment, AWS_PROFILE, instance metadata ...",
    )  # fmt: skip
    common.add_argument(
        "--anonymous", action="store_true",
        help="send unsigned requests (a public bucket or container): no credentials are looked for",
    )  # fmt: skip
    return common


def _filter_flags(parser: argparse.ArgumentParser) -> None:
    for flag, what in (("--include", "include"), ("--exclude", "leave out")):
        parser.add_argument(
            flag, action=_Rule, metavar="PATTERN", dest="rules",
            help=f"{what} names (relative to the source) matching PATTERN, where '*' also "
            "matches '/' (repeatable; the last rule that matches a name wins)",
        )  # fmt: skip


def _tree_flags(parser: argparse.ArgumentParser, *, transfer: bool) -> None:
    parser.add_argument("-r", "--recursive", action="store_true",
                        help="every object or file under the source, as a directory")  # fmt: skip
    _filter_flags(parser)
    parser.add_argument("--dryrun", action="store_true",
                        help="print what would be done, and do nothing")  # fmt: skip
    parser.add_argument(
        "--workers", type=_workers, default=DEFAULT_WORKERS, metavar="N",
        help=f"objects or files in flight at once (default {DEFAULT_WORKERS})",
    )  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress display, no line per object, no summary")  # fmt: skip
    if not transfer:
        return
    parser.add_argument("-n", "--no-clobber", action="store_true",
                        help="leave a destination that exists as it is")  # fmt: skip
    parser.add_argument(
        "--fsync", action="store_true",
        help="put each downloaded file's bytes on disk before renaming it into place (a crash "
        "of the machine then leaves no whole name over torn bytes; slower for big files). "
        "Without it, as with s5cmd and aws s3, a download is still renamed into place whole: no "
        "reader sees a partial file",
    )  # fmt: skip
    _attribute_flags(parser)


def _attribute_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--content-type", metavar="TYPE",
        help="the Content-Type of every object written (default: guessed from its name, on the "
        "clouds)",
    )  # fmt: skip
    parser.add_argument("--cache-control", metavar="VALUE",
                        help="the Cache-Control of every object written")  # fmt: skip
    parser.add_argument(
        "--metadata", action="append", type=_metadata, default=[], metavar="KEY=VALUE",
        help="user metadata of every object written (repeatable)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    _add_option_flag(parser, "leading_options")
    parser.add_argument(
        "--version", action=_VersionAction, help="print the package's and the worker's versions"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, description: str, example: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=[common], help=help, description=description,
            epilog=f"example:\n  {PROG} {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        sub.set_defaults(command_parser=sub)
        return sub

    copying = (
        "Either side may be a local path or an object URL, but not both local; '-' is standard "
        "input or output. One source object or file goes to DST, or into DST if it is a "
        "directory or a URL ending in '/'. A tree (-r, or wildcards in SRC) goes under DST, each "
        "name relative to the source's directory (the part before its first wildcard). Within "
        "one store a copy is made by the store; between stores it is streamed. A download goes "
        "to a temporary file, renamed into place when complete."
    )
    for name, verb, example in (
        ("cp", "copy", "cp -r ./parquet/ s3://bucket/tables/t1/"),
        (
            "mv",
            "move (copy, then delete the source)",
            "mv 's3://bucket/in/*.csv' s3://bucket/done/",
        ),
    ):
        sub = command(name, f"{verb} files and objects", f"{verb.capitalize()} SRC to DST. "
                      + copying, example)  # fmt: skip
        sub.add_argument("src", metavar="SRC")
        sub.add_argument("dst", metavar="DST")
        _tree_flags(sub, transfer=True)
        sub.add_argument(
            "--flatten", action="store_true",
            help="put a tree's entries directly under DST by their base names, not their paths "
            "(two entries of one base name: the second fails, nothing is overwritten)",
        )  # fmt: skip

    sync = command(
        "sync", "copy what differs from one tree to another (any direction)",
        "Make DST hold what SRC holds (both trees: local directories or URL prefixes, in any "
        "direction). An entry is copied when DST lacks it, its size differs, or SRC's is newer "
        "(as 'aws s3 sync' decides); --delete also removes from DST what SRC does not have. A "
        "downloaded file takes the object's last-modified time.",
        "sync ./site/ s3://bucket/site/ --delete",
    )  # fmt: skip
    sync.add_argument("src", metavar="SRC")
    sync.add_argument("dst", metavar="DST")
    _tree_flags(sync, transfer=True)
    sync.add_argument("--size-only", action="store_true",
                      help="copy only when the sizes differ, whatever the times")  # fmt: skip
    sync.add_argument("--exact-timestamps", action="store_true",
                      help="copy when the times differ at all, not only when SRC is newer")  # fmt: skip
    sync.add_argument("--delete", action="store_true",
                      help="delete what DST has and SRC does not (within the filters)")  # fmt: skip

    run = command(
        "run", "run the commands of a file, one a line, in parallel",
        "Run the commands of FILE ('-': standard input), one a line as they would follow the "
        "program's name ('#' starts a comment), several at once, as s5cmd's batch mode. The "
        "options given to run (-o, --profile, --anonymous) go with every line.",
        "run commands.txt",
    )  # fmt: skip
    run.add_argument("file", metavar="FILE")
    run.add_argument(
        "--workers", type=_workers, default=DEFAULT_WORKERS // 4, metavar="N",
        help=f"lines run at once (default {DEFAULT_WORKERS // 4})",
    )  # fmt: skip

    ls = command(
        "ls", "list one level under the URL's key (-r: every key below it)",
        "One level, as 'aws s3 ls' has it: 'PRE NAME/' for each common prefix (a \"directory\"), "
        "then 'SIZE LAST_MODIFIED NAME' for each object directly there, names relative to the "
        "URL's directory. With -r (or wildcards), every object whose key starts with the URL's "
        "key (or matches), with its whole key.",
        "ls -r --human-readable --summarize s3://bucket/logs/",
    )  # fmt: skip
    ls.add_argument("url", metavar="URL")
    ls.add_argument("-r", "--recursive", action="store_true", help="every key below, not one level")
    ls.add_argument("-H", "--human-readable", action="store_true", help="sizes in KiB, MiB, GiB")
    ls.add_argument("--summarize", action="store_true", help="the count and total size at the end")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    _filter_flags(ls)

    du = command("du", "the total size and count of the objects under a URL",
                 "The total size and count of the objects under the URL, or matching its "
                 "wildcards.", "du -H 's3://bucket/logs/**/*.gz'")  # fmt: skip
    du.add_argument("url", metavar="URL")
    du.add_argument("-H", "--human-readable", action="store_true", help="the size in KiB, MiB, GiB")
    _filter_flags(du)

    rm = command("rm", "delete objects",
                 "Delete the object; with -r or wildcards, every object under the URL or "
                 "matching it, in the store's bulk deletes.", "rm -r --dryrun s3://bucket/tmp/")  # fmt: skip
    rm.add_argument("url", metavar="URL")
    _tree_flags(rm, transfer=False)

    cat = command("cat", "write an object's bytes to standard output",
                  "Write an object's bytes to standard output.", "cat gs://bucket/notes.txt")  # fmt: skip
    cat.add_argument("url", metavar="URL")

    pipe = command("pipe", "store standard input as an object",
                   "Store standard input as the object, whole when the input ends (nothing is "
                   "stored if it fails).", "pipe s3://bucket/dump.sql < dump.sql")  # fmt: skip
    pipe.add_argument("url", metavar="URL")
    _attribute_flags(pipe)

    stat = command("stat", "print an object's path, size, last_modified, e_tag, version and "
                   "attributes", "Print an object's path, size, last_modified, e_tag, version and "
                   "attributes.", "stat --json s3://bucket/report.csv")  # fmt: skip
    stat.add_argument("url", metavar="URL")
    stat.add_argument("--json", action="store_true", help="as one JSON object")

    presign = command("presign", "print a pre-signed URL for the object",
                      "Print a URL that lets a plain HTTP client GET (or PUT) the object until it "
                      "expires, signed with the store's credentials.",
                      "presign s3://bucket/report.csv --expires 3600")  # fmt: skip
    presign.add_argument("url", metavar="URL")
    presign.add_argument("--expires", type=_seconds, default=3600.0, metavar="SECONDS",
                         help="how long the URL works (default 3600)")  # fmt: skip
    presign.add_argument("--method", choices=("GET", "PUT"), default="GET")
    return parser
