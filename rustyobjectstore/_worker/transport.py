"""The transport: spawns one worker, writes frames to its stdin, and reads its stdout.
Bytes and frames only: what the messages mean is the connection's business.

Reading is a token that one thread holds at a time. A sync caller waiting for its answer takes it
when nobody is reading and reads the answer itself (``lead``): one thread wake-up per call instead
of two. Otherwise the reader thread takes it whenever answers are owed (asyncio calls, requests
nobody waits on) and reads until none are; it is also woken when the worker's stderr ends, so a
death is seen at once even with nothing in flight.

stderr is drained into a bounded ring of lines, so a chatty worker can never block on a full pipe and
a crash report can quote its last words.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rustyobjectstore._worker.codec import FrameDecoder, FrameError, Message

_PIPE_SIZE = 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_READ_CHUNK = 256 * 1024
STDERR_LINES = 40


@dataclass(frozen=True)
class Closed:
    """Why a transport ended: exit status, and the worker's last stderr lines."""

    returncode: int | None
    stderr_tail: str
    reason: str
    protocol_error: bool = False  # its output broke the framing: killed by us, not a crash

    def describe(self) -> str:
        if self.returncode is None:
            status = "did not exit"
        elif self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            status = f"was killed by {name}"
        else:
            status = f"exited with status {self.returncode}"
        tail = f"; its last stderr lines:\n{self.stderr_tail}" if self.stderr_tail else ""
        return f"the worker {status} ({self.reason}){tail}"


def _grow_pipe(fd: int) -> None:
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass  # a smaller pipe is only slower


class Transport:
    def __init__(
        self,
        argv: Sequence[str],
        pass_fds: Sequence[int],
        on_message: Callable[[Message], None],
        on_close: Callable[[Closed], None],
    ) -> None:
        self._on_message = on_message
        self._on_close = on_close
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._write_lock = threading.Lock()
        self._stdin_closed = False
        self._held: list[bytes] = []
        self._kill_reason: str | None = None
        self._closing = False
        # Reading: one thread at a time (``_reading``) owns the decoder and delivers what it reads.
        self._state = threading.Lock()
        self._reading = False
        self._wake = threading.Event()
        self._wake.set()  # the handshake is owed
        self._decoder = FrameDecoder()
        self._ended = False
        self._stderr_ended = False
        self.wants_reader: Callable[[], bool] = lambda: True
        """Whether answers are owed: set by the connection."""
        self.process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
            bufsize=0,
            close_fds=True,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._stdin_fd = self.process.stdin.fileno()
        self._stdout_fd = self.process.stdout.fileno()
        _grow_pipe(self._stdin_fd)
        _grow_pipe(self._stdout_fd)
        self._poller = select.poll()
        self._poller.register(self._stdout_fd, select.POLLIN)
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, daemon=True, name=f"rustyobjectstore-stderr-{self.pid}"
        )
        self._reader = threading.Thread(
            target=self._read_loop, daemon=True, name=f"rustyobjectstore-reader-{self.pid}"
        )
        self._stderr_thread.start()
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def queue(self, frame: bytes) -> None:
        """Holds a frame for the next ``flush`` (or ``send``, which writes held frames first)."""
        with self._write_lock:
            self._held.append(frame)

    def flush(self) -> None:
        try:
            self.send(b"")
        except OSError:
            pass  # the reader thread sees the death and fails the calls

    def send(self, frames: bytes) -> None:
        """Writes whole frames, after any held ones; raises ``BrokenPipeError`` (an ``OSError``) once
        the worker is gone."""
        with self._write_lock:
            if self._held:
                frames = b"".join([*self._held, frames])
                self._held.clear()
            view = memoryview(frames)
            if self._stdin_closed:
                # The fd number may already belong to another file: never write to it again.
                raise BrokenPipeError("the worker's stdin is closed")
            while view:
                written = os.write(self._stdin_fd, view)
                view = view[written:]

    def expect(self) -> None:
        """An answer is owed that no caller will read itself: make sure someone reads. Whoever
        reads now checks for owed answers after letting go, so only an idle reader needs waking."""
        if not self._reading:
            self._wake.set()

    def lead(self, done: Callable[[], bool], timeout: float | None = None) -> None:
        """Reads and delivers answers on this thread until ``done()`` (or ``timeout`` seconds pass,
        or the stream ends), if nobody else is reading; otherwise returns at once, and whoever is
        reading delivers."""
        if done():
            return
        took = False
        try:
            # Taken and given back inside `with` blocks, which a Ctrl-C cannot split: raised
            # anywhere else, it still finds `took` telling the truth.
            with self._state:
                if not self._reading:
                    self._reading = took = True
            if not took:
                self._wake.set()  # the reader may be just letting go: have the thread look
                return
            main = threading.current_thread() is threading.main_thread()
            until = None if timeout is None else time.monotonic() + timeout
            while not done() and not self._ended:
                left = None if until is None else until - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._pump(left, main)
        finally:
            if took:
                with self._state:
                    self._reading = False
                if self.wants_reader() or self._closing or self._stderr_ended:
                    self._wake.set()  # answers for others are still owed: the thread reads them

    def _read_loop(self) -> None:
        while not self._ended:
            # Woken when answers are owed; the timeout only mends a hand-over that a Ctrl-C cut.
            self._wake.wait(1.0)
            self._wake.clear()
            with self._state:
                busy, self._reading = self._reading, True
            if busy:
                continue  # a caller is reading: it wakes this thread when it lets go with answers owed
            try:
                while not self._ended and (
                    self.wants_reader() or self._closing or self._stderr_ended
                ):
                    self._pump(None, False)
            finally:
                with self._state:
                    self._reading = False
                if self.wants_reader():
                    self._wake.set()  # owed since the check above, by a caller that saw us reading

    def _pump(self, timeout: float | None, main: bool) -> None:
        """One read (waiting at most ``timeout``), its messages delivered; at the end of the
        stream, the transport's end. Only the reader calls it."""
        fd = self._stdout_fd
        # The main thread waits in poll, not read: Ctrl-C lands there, and while it waits for
        # input nothing is lost.
        if main or timeout is not None:
            wait_ms = None if timeout is None else max(0, int(timeout * 1000))
            if not self._poller.poll(wait_ms):
                return
        if not main:
            self._take(fd)
            return
        # Raised after bytes were read and before they were delivered (a window of microseconds),
        # a Ctrl-C may have dropped some: the stream is no longer trusted and the worker replaced.
        delivered = False
        try:
            self._take(fd)
            delivered = True
        finally:
            if not delivered and not self._ended:
                self.kill("interrupted while its answers were being read")

    def _take(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_CHUNK)
        except OSError as exc:
            self._end(f"reading its output failed: {exc}")
            return
        if not data:
            pending = self._decoder.pending
            self._end(
                f"its output ended inside a frame ({pending} bytes)"
                if pending
                else "its output ended"
            )
            return
        try:
            messages = self._decoder.feed(data)
        except FrameError as exc:
            self.process.kill()
            self._end(f"protocol error in its output: {exc}", protocol_error=True)
            return
        for message in messages:
            if self._closing:
                # Shut down: what it still says (an answer, or an error from its own shutdown
                # cancelling the work) is not delivered; its calls fail as cut off.
                continue
            self._on_message(message)

    def _end(self, reason: str, protocol_error: bool = False) -> None:
        self._ended = True
        self._wake.set()  # let the reader thread see the end and finish
        try:
            returncode: int | None = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            returncode = self.process.wait()
        self._stderr_thread.join(timeout=2)
        reason = self._kill_reason or reason
        self._on_close(Closed(returncode, "\n".join(self._stderr), reason, protocol_error))

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        fd = self.process.stderr.fileno()
        partial = b""
        while True:
            try:
                data = os.read(fd, _READ_CHUNK)  # in chunks: a flood must not cost a read per byte
            except OSError:
                break
            if not data:
                break
            lines = (partial + data).split(b"\n")
            partial = lines.pop()[-_READ_CHUNK:]  # a line without an end is kept bounded too
            for line in lines[-STDERR_LINES:]:
                self._stderr.append(line.decode("utf-8", "replace").rstrip())
        if partial:
            self._stderr.append(partial.decode("utf-8", "replace").rstrip())
        # The worker has (almost certainly) exited: read its output to the end, so its death is
        # seen now, not at the next call.
        self._stderr_ended = True
        self._wake.set()

    def kill(self, reason: str) -> None:
        """Kills the worker; ``reason`` is what its crash report will say."""
        self._kill_reason = reason
        with contextlib.suppress(OSError):
            self.process.kill()

    def abandon(self) -> None:
        """In a forked child: drop this process's copies of the pipes, taking no lock (the thread
        that held one is gone) and waiting for nothing, so the worker still sees EOF when its parent
        closes or dies."""
        self._stdin_closed = True
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    os.close(stream.fileno())
        self.process.returncode = -1  # not ours to reap

    def close(self, timeout: float = 5.0) -> None:
        """Closes stdin (the worker exits on EOF), waits, kills if it must, and joins the threads."""
        assert self.process.stdin is not None
        with self._write_lock:
            self._stdin_closed = True
            if self._kill_reason is None:
                self._kill_reason = "shut down before it answered"
            self._closing = True
            try:
                self.process.stdin.close()
            except OSError:
                pass
        self._wake.set()  # read to the end, so the reader thread can finish
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if threading.current_thread() is not self._reader:
            self._reader.join()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and threading.current_thread() is not self._reader:
                stream.close()
