"""One progress display for a whole transfer: files, bytes, rate and time left, drawn by tqdm on a
terminal's standard error, and nothing when standard error is not a terminal or with
``--quiet``."""

from __future__ import annotations

import sys
from typing import Any, TextIO

LABEL_WIDTH = 32


class Progress:
    """Bytes moved out of the bytes planned, and files done out of the files planned; the plan
    grows while a listing is still coming in."""

    def __init__(self, label: str, quiet: bool = False, out: TextIO | None = None) -> None:
        out = sys.stderr if out is None else out
        self.files_done = 0
        self.files = 0
        self._bar: Any = None
        if not quiet and out.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                desc=_shortened(label), total=0, unit="B", unit_scale=True, unit_divisor=1024,
                file=out, dynamic_ncols=True, leave=False, mininterval=0.1,
            )  # fmt: skip

    def planned(self, size: int) -> None:
        """One more file of ``size`` bytes to move."""
        self.files += 1
        if self._bar is not None:
            self._bar.total += size
            self._postfix()

    def moved(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)

    def finished(self) -> None:
        self.files_done += 1
        if self._bar is not None:
            self._postfix()

    def _postfix(self) -> None:
        self._bar.set_postfix_str(f"{self.files_done}/{self.files} files", refresh=False)

    def write(self, line: str, out: TextIO) -> None:
        """A line of output, above the display while there is one."""
        if self._bar is not None:
            self._bar.write(line, file=out)
        else:
            out.write(line + "\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _shortened(label: str, width: int = LABEL_WIDTH) -> str:
    """The label's end when it is long: a long path would leave the bar no room for the files
    count and the time left."""
    return label if len(label) <= width else "…" + label[-(width - 1) :]
