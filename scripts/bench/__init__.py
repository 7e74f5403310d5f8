"""Benchmark rustyobjectstore against obstore, boto3, azure-storage-blob and s3fs.

One run, the same data and the same server for every library:

- servers: ``memory`` (per-call overhead), ``file`` (a temp dir), ``minio`` (the fast S3 server, on
  loopback; built by ``scripts/install_minio.sh`` when missing), ``moto`` and ``azurite`` (emulators,
  for completeness: they are slow and measure themselves more than the client);
- libraries: rustyobjectstore (``get_object_into`` into a reused buffer, and ``get_object`` as the
  column ``rustyobjectstore[get_object]``), obstore, boto3, azure-storage-blob, and s3fs, which runs
  in its own venv (``.emulators/venv-s3fs``) through ``s3fs_runner.py``, which prints JSON;
- workloads, each a put and a get: 1 KiB x 10,000 with 64 in flight, sync 1 KiB single-call latency
  (median of N calls), 64 KiB x 1,000 with 64 in flight, 64 MiB x 10 and 1 GiB x 1 one at a time.

"In flight" is asyncio.gather under a semaphore for rustyobjectstore, obstore and s3fs, and a
ThreadPoolExecutor of 16 threads for boto3 and azure-storage-blob. Medians over ``--repeats`` (3),
the libraries taking turns sample by sample (s3fs, in its own process, runs after them).
Prints a table per server (medians, and rustyobjectstore's ratio to each peer: above 1 means
rustyobjectstore is faster), and writes all raw samples as JSON and a chart as PNG.

    python scripts/bench --quick
    python scripts/bench --servers memory,file,minio --libs rustyobjectstore,obstore,boto3
    python scripts/bench --json out.json --png out.png

The optional peers come from the ``bench`` extra: ``pip install -e '.[bench]'``.

The modules: ``common`` (constants, the libraries and servers, logging), ``workloads`` (what is
measured, the payloads), ``servers`` (starting them, through ``scripts/emulators.py``), ``clients``
(each library behind one interface), ``measure`` (timing, medians), ``s3fs_venv`` and
``s3fs_runner`` (s3fs in its own venv), ``report`` (tables, chart, JSON) and ``cli`` (the command
line). ``common`` and ``workloads`` use the standard library only: the s3fs runner imports them in
its venv.
"""
