"""Chaos run: many threads and asyncio tasks hammer one store while a killer SIGKILLs workers.

``--ops`` mixed operations (put_object, get_object, get_object_into, get_object_range, head_object,
list_objects, delete_object, put_object_from_file, get_object_to_file; sync calls from ``--threads``
threads, the ``_async`` twins from ``--tasks`` asyncio tasks, all at once) run against a store
(``file://`` in a temp dir by default, ``--store memory``, or ``--store s3`` on moto started here or
on ``--endpoint``), while a killer thread SIGKILLs a random live worker every ``--kill-every``
seconds (0.5x to 1.5x, at random). With ``--store minio --server-restarts N``, the server fails
too: MinIO (started here on a data directory of the run's) is SIGKILLed every
``--server-restart-every`` seconds (0.5x to 1.5x) and started again on the same data and port, at
least N times; a call that could not reach it (a connection error, a timeout, a 5xx) is allowed
while it overlapped a restart. Every ``--big-every``-th operation uploads a multi-part object
(10-20 MiB: a multipart put and ranged parallel gets) and reads it back.

Every payload carries its own checksum: a header with a magic, the write's version number and the
sha256 of key, version and body. Each writer (thread or task) has its own keys, and all of them share
a few more keys, where writes race. Every write is recorded with the time it started and, once it
returns, ended and whether it was acknowledged; a read (get, range, head, listing) lasting from ``rs``
to ``re`` may see any write that started before ``re`` unless an acknowledged write started after
that write ended and itself ended before ``rs`` (the register rule; on a writer's own keys this is
"the last acknowledged write, or an unacknowledged later one"). After the run every key is read back
under the same rule with no kills; on ``memory://``, a kill of the worker holding the store counts as
an acknowledged delete of every key (its objects live only there).

Figures that must be 0 (the exit status is 1 otherwise): acknowledged writes lost, corrupt reads
(bytes not matching their checksum, or no write made them), stale reads (content or size or absence
that the rule above forbids), unexpected errors (anything but WorkerCrashedError, a not-found where
absence is allowed, and the races a shared key may have), hung calls (not finished within
``--call-timeout``), and leaks after shutdown: worker processes, library threads, file descriptors
of this process, temp files the library left (``.part`` files beside downloads, anything in the
private TMPDIR the run gives itself and its workers). Reported besides: operations by kind and
outcome, failures by exception type, kills, worker restarts, staging files that SIGKILLed workers
left in a ``file://`` store (object_store's ``key#N``, invisible to listings), and peak memory (PSS
of this process plus its workers, sampled).

    python scripts/chaos --ops 50000 --seconds 300
    python scripts/chaos --store memory --ops 5000
    python scripts/chaos --store s3                        # starts moto
    python scripts/chaos --store minio --server-restarts 20  # SIGKILLs and restarts MinIO too
    python scripts/chaos --store s3 --endpoint http://127.0.0.1:9000 --bucket chaos \\
        --access-key minioadmin --secret-key minioadmin

The modules: ``payload`` (self-checking bodies), ``ledger`` (every write and what a read may
see), ``stats`` (counters, hung calls), ``plan`` (what each writer does next), ``checks`` (judging
what a call returned), ``calls`` (running one call and classifying its outcome), ``faults``
(killing workers, restarting the server), ``leaks`` (memory, processes, threads, fds, files),
``store`` (the store under test), ``run`` (the actors of one run), ``report`` (tables, figures,
JSON) and ``cli`` (the command line).
"""

from chaos.plan import WEIGHTS
from chaos.stats import MUST_BE_ZERO

__all__ = ["MUST_BE_ZERO", "WEIGHTS"]
