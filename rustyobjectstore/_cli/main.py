"""The entry point: parse, run the command, and turn what went wrong into one line each and an
exit status."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shlex
import sys
from collections.abc import Callable

from rustyobjectstore._cli import listing, objects
from rustyobjectstore._cli.copying import TransferOptions, copy
from rustyobjectstore._cli.locations import STDIO, CLIError, UsageError, is_url, parse_url
from rustyobjectstore._cli.parser import PROG, build_parser
from rustyobjectstore._cli.patterns import Filters
from rustyobjectstore._cli.syncing import SyncRules, sync
from rustyobjectstore._cli.transfers import Report, failure_message
from rustyobjectstore._errors import ObjectStoreError


def _error(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()
    return 1


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush is quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _attributes(args: argparse.Namespace) -> dict[str, str]:
    attributes = dict(args.metadata)
    if args.content_type is not None:
        attributes["Content-Type"] = args.content_type
    if args.cache_control is not None:
        attributes["Cache-Control"] = args.cache_control
    return attributes


def _finish(report: Report, verb: str, quiet: bool, many: bool) -> int:
    """Each failure once, then (for a tree, or when something was skipped) the summary; 1 if
    anything failed."""
    for line, message in report.failures:
        _error(f"{line}: {message}")
    if (many or report.skipped) and not quiet:
        sys.stderr.write(report.summary(verb) + "\n")
        sys.stderr.flush()
    return 1 if report.failures else 0


def _stdio_copy(src: str, dst: str, args: argparse.Namespace, options: dict[str, str]) -> None:
    """``cp - URL`` and ``cp URL -``."""
    if src == STDIO:
        if not is_url(dst):
            raise UsageError("from standard input, DST must be an object URL")
        target = parse_url(dst, options)
        if not target.key or target.key.endswith("/"):
            raise CLIError(f"{dst} ends in '/': give the object's full key when copying from stdin")
        objects.pipe(dst, options, _attributes(args))
        return
    if not is_url(src):
        raise UsageError("to standard output, SRC must be an object URL")
    objects.cat(src, options)


def options_of(args: argparse.Namespace, given: dict[str, str] | None = None) -> dict[str, str]:
    """The store options of a command: ``given`` (a batch's), then its ``-o``, ``--profile`` and
    ``--anonymous``."""
    options = {**(given or {}), **dict([*args.leading_options, *args.options])}
    if args.profile is not None:
        options["profile"] = args.profile
    if args.anonymous:
        options["skip_signature"] = "true"
    return options


async def execute(args: argparse.Namespace, options: dict[str, str]) -> int:
    """Runs one parsed command; its exit status (a failure of the whole command is raised)."""
    command: str = args.command
    out = sys.stdout
    if command in ("cp", "mv", "sync"):
        if command == "cp" and STDIO in (args.src, args.dst):
            await asyncio.to_thread(_stdio_copy, args.src, args.dst, args, options)
            return 0
        opts = TransferOptions(
            options=options, recursive=args.recursive or command == "sync",
            filters=Filters(args.rules or ()), dryrun=args.dryrun, no_clobber=args.no_clobber,
            flatten=getattr(args, "flatten", False),
            workers=args.workers, quiet=args.quiet, attributes=_attributes(args),
            fsync=args.fsync, display=getattr(args, "display", True),
        )  # fmt: skip
        if command == "sync":
            rules = SyncRules(args.size_only, args.exact_timestamps, args.delete)
            report = await sync(args.src, args.dst, opts, rules, out)
            return _finish(report, "synced", args.quiet, True)
        report = await copy(args.src, args.dst, opts, out, move=command == "mv")
        many = report.done + report.skipped + len(report.failures) > 1 or args.recursive
        return _finish(report, "moved" if command == "mv" else "copied", args.quiet, many)
    if command == "rm":
        report = await objects.rm(
            args.url, options, out, recursive=args.recursive, filters=Filters(args.rules or ()),
            dryrun=args.dryrun, workers=args.workers, quiet=args.quiet,
        )  # fmt: skip
        return _finish(report, "deleted", args.quiet, report.done + len(report.failures) > 1)
    if command == "ls":
        await listing.ls(args.url, options, out, recursive=args.recursive,
                         human=args.human_readable, summarize=args.summarize, as_json=args.json,
                         filters=Filters(args.rules or ()))  # fmt: skip
        return 0
    if command == "du":
        await listing.du(args.url, options, out, human=args.human_readable,
                         filters=Filters(args.rules or ()))  # fmt: skip
        return 0
    if command == "run":
        return await run_file(args.file, options, args.workers)
    blocking: dict[str, Callable[[], object]] = {
        "cat": lambda: objects.cat(args.url, options),
        "pipe": lambda: objects.pipe(args.url, options, _attributes(args)),
        "stat": lambda: objects.stat(args.url, options, out, as_json=args.json),
        "presign": lambda: objects.presign(args.url, options, out, args.method, args.expires),
    }
    await asyncio.to_thread(blocking[command])
    return 0


async def run_file(path: str, options: dict[str, str], workers: int) -> int:
    """``run FILE``: one command a line (``#`` starts a comment), ``workers`` lines at a time, as
    s5cmd's batch mode; each with the options given to ``run`` and no progress display. 1 if any
    line failed (each failure said once, with its line number)."""
    parser = build_parser()
    try:
        with open(sys.stdin.fileno() if path == STDIO else path, encoding="utf-8",
                  closefd=path != STDIO) as f:  # fmt: skip
            lines = [(n, line.strip()) for n, line in enumerate(f, 1)]
    except OSError as exc:
        raise CLIError(failure_message(exc)) from exc
    commands: list[tuple[int, argparse.Namespace]] = []
    for n, line in lines:
        if not line or line.startswith("#"):
            continue
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise CLIError(f"{path}:{n}: {exc}") from exc
        if argv and argv[0] == "run":
            raise CLIError(f"{path}:{n}: a batch cannot run another batch")
        try:
            with contextlib.redirect_stderr(io.StringIO()) as said:
                parsed = parser.parse_args(argv)
        except SystemExit:
            usage = said.getvalue().strip().splitlines()
            raise CLIError(f"{path}:{n}: {usage[-1] if usage else 'not a command'}") from None
        parsed.display = False  # many commands at once: their lines, but no progress displays
        commands.append((n, parsed))
    gate = asyncio.Semaphore(workers)
    failed = 0

    async def one(n: int, parsed: argparse.Namespace) -> None:
        nonlocal failed
        async with gate:
            try:
                status = await execute(parsed, options_of(parsed, options))
            except (ObjectStoreError, CLIError, OSError) as exc:
                _error(f"{path}:{n}: {failure_message(exc)}")
                status = 1
            failed += status != 0

    await asyncio.gather(*(one(n, parsed) for n, parsed in commands))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = options_of(args)
    try:
        return asyncio.run(execute(args, options))
    except UsageError as exc:
        command_parser: argparse.ArgumentParser = args.command_parser
        command_parser.error(str(exc))
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except (ObjectStoreError, CLIError, OSError) as exc:
        return _error(failure_message(exc))
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    return 0
