"""Wildcards in keys and local paths, and the ``--include`` / ``--exclude`` filters.

A source's wildcards are glob's: ``*`` and ``?`` stay within one path segment, ``**`` (a whole
segment) spans any number of them, ``[abc]`` is a set. The filters are ``aws s3``'s: fnmatch
patterns on the name relative to the source, where ``*`` crosses ``/``; every name is included
until a filter says otherwise, and the last filter that matches wins.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

WILDCARDS = frozenset("*?[")


def has_wildcard(text: str) -> bool:
    return any(c in WILDCARDS for c in text)


def split_at_wildcard(key: str) -> tuple[str, str | None]:
    """``key`` as the directory before its first wildcard (ending in ``/``, or empty) and the
    pattern from there on; a key without one is ``(key, None)``."""
    first = next((i for i, c in enumerate(key) if c in WILDCARDS), None)
    if first is None:
        return key, None
    cut = key.rfind("/", 0, first) + 1
    return key[:cut], key[cut:]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex matching whole relative names against a glob ``pattern``."""
    out: list[str] = []
    segments = pattern.split("/")
    for n, segment in enumerate(segments):
        last = n == len(segments) - 1
        if segment == "**":
            # Any number of whole segments (none too): "a/**/b" matches "a/b" and "a/x/y/b".
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        out.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(out), re.DOTALL)


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = segment.find("]", i + 2 if segment[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = segment[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class Filters:
    """``--include`` and ``--exclude``, in the order given: ``(True, pattern)`` includes."""

    def __init__(self, rules: Sequence[tuple[bool, str]] = ()) -> None:
        self.rules = list(rules)
        self._compiled = [(inc, re.compile(fnmatch.translate(p))) for inc, p in self.rules]

    def admits(self, name: str) -> bool:
        """Whether the relative ``name`` is included: yes, unless the last rule that matches it
        excludes it."""
        verdict = True
        for include, regex in self._compiled:
            if regex.match(name):
                verdict = include
        return verdict
