"""The real users of an fsspec filesystem, on real servers: pandas (CSV and Parquet), pyarrow
(``pq.read_table`` with columns and row-group filters, ``pyarrow.dataset`` over a hive-partitioned
dataset), Dask on a ``distributed.LocalCluster`` of worker processes, and zarr v3 arrays."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from emulators import AZURITE_ACCOUNT, AZURITE_KEY, RunningServer
from pyarrow.fs import FSSpecHandler, PyFileSystem

from rustyobjectstore import fsspec as rosfs


def _frame(rows: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "year": np.repeat([2024, 2025], rows // 2),
        "city": rng.choice(["Oslo", "Lima", "Pune"], rows),
        "value": rng.random(rows),
        "count": np.arange(rows, dtype=np.int64),
    })  # fmt: skip


@pytest.fixture
def s3_options(moto_server: RunningServer) -> dict[str, Any]:
    return {"key": "testing", "secret": "testing",
            "client_kwargs": {"endpoint_url": moto_server.endpoint, "region_name": "us-east-1"}}  # fmt: skip


def test_pandas_csv_and_parquet_on_s3(
    registered: None, s3_options: dict[str, Any], s3_bucket: str
) -> None:
    frame = _frame()
    frame.to_csv(f"s3://{s3_bucket}/t.csv", index=False, storage_options=s3_options)
    back = pd.read_csv(f"s3://{s3_bucket}/t.csv", storage_options=s3_options)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    frame.to_parquet(f"s3://{s3_bucket}/t.parquet", storage_options=s3_options)
    back = pd.read_parquet(f"s3://{s3_bucket}/t.parquet", storage_options=s3_options)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    fs = rosfs.S3FileSystem(**s3_options)
    assert fs.cat_file(f"{s3_bucket}/t.parquet", 0, 4) == b"PAR1"


def test_pandas_on_azurite_by_our_own_protocol(
    azurite_server: RunningServer, azure_container: str
) -> None:
    options = {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY,
               "host": azurite_server.endpoint}  # fmt: skip
    frame = _frame()
    url = f"ros+az://{azure_container}/data/t.parquet"
    frame.to_parquet(url, storage_options=options)
    pd.testing.assert_frame_equal(pd.read_parquet(url, storage_options=options), frame,
                                  check_dtype=False)  # fmt: skip
    frame.to_csv(f"ros+az://{azure_container}/data/t.csv.gz", index=False,
                 storage_options=options, compression="gzip")  # fmt: skip
    back = pd.read_csv(f"ros+az://{azure_container}/data/t.csv.gz", storage_options=options,
                       compression="gzip")  # fmt: skip
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_pyarrow_columns_filters_and_hive_datasets(
    s3_options: dict[str, Any], s3_bucket: str
) -> None:
    fs = rosfs.S3FileSystem(**s3_options)
    arrow_fs = PyFileSystem(FSSpecHandler(fs))
    table = pa.Table.from_pandas(_frame(4000), preserve_index=False)
    pq.write_table(table, f"{s3_bucket}/one.parquet", filesystem=arrow_fs, row_group_size=500)
    two = pq.read_table(f"{s3_bucket}/one.parquet", filesystem=fs, columns=["city", "value"])
    assert two.column_names == ["city", "value"] and two.num_rows == 4000
    assert two.equals(table.select(["city", "value"]))
    late = pq.read_table(f"{s3_bucket}/one.parquet", filesystem=fs,
                         filters=[("count", ">=", 3500)])  # fmt: skip
    assert late.column("count").to_pylist() == list(range(3500, 4000))
    with fs.open(f"{s3_bucket}/one.parquet") as f:
        assert pq.ParquetFile(f).metadata.num_row_groups == 8

    pq.write_to_dataset(table, f"{s3_bucket}/hive", partition_cols=["year", "city"],
                        filesystem=arrow_fs)  # fmt: skip
    assert fs.ls(f"{s3_bucket}/hive", detail=False) == [
        f"{s3_bucket}/hive/year=2024", f"{s3_bucket}/hive/year=2025",
    ]  # fmt: skip
    dataset = ds.dataset(f"{s3_bucket}/hive", filesystem=arrow_fs, partitioning="hive")
    pune = dataset.to_table(filter=(ds.field("year") == 2025) & (ds.field("city") == "Pune"))
    expected = table.to_pandas().query("year == 2025 and city == 'Pune'")
    assert sorted(pune.column("count").to_pylist()) == sorted(expected["count"].tolist())


def test_dask_on_a_local_cluster_of_processes(s3_options: dict[str, Any], s3_bucket: str) -> None:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    frame = _frame(6000)
    root = f"ros+s3://{s3_bucket}"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:  # fmt: skip
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 2
        source = dd.from_pandas(frame, npartitions=6)
        source.to_parquet(f"{root}/ds", storage_options=s3_options, write_index=False)
        back = dd.read_parquet(f"{root}/ds", storage_options=s3_options)
        assert back.npartitions == 6
        assert back["value"].sum().compute() == pytest.approx(frame["value"].sum())
        got = back.compute().sort_values("count").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, frame, check_dtype=False)

        dd.from_pandas(frame, npartitions=3).to_csv(f"{root}/csv/part-*.csv", index=False,
                                                    storage_options=s3_options)  # fmt: skip
        csv = dd.read_csv(f"{root}/csv/*.csv", storage_options=s3_options)
        by_city = csv.groupby("city")["count"].sum().compute().sort_index()
        # Dask's CSV reader makes the strings NA-valued where pandas' frame has NaN-valued ones.
        pd.testing.assert_series_equal(by_city, frame.groupby("city")["count"].sum().sort_index(),
                                       check_index_type=False)  # fmt: skip
    fs = rosfs.S3FileSystem(**s3_options)
    assert len(fs.glob(f"{s3_bucket}/csv/*.csv")) == 3


def test_zarr_arrays_through_the_filesystem(s3_options: dict[str, Any], s3_bucket: str) -> None:
    import zarr
    from zarr.storage import FsspecStore

    async def roundtrip() -> None:
        fs = rosfs.S3FileSystem(**s3_options, asynchronous=True)
        store = FsspecStore(fs, path=f"{s3_bucket}/z-{uuid.uuid4().hex}")
        data = np.arange(10_000, dtype="float64").reshape(100, 100)
        array = await zarr.api.asynchronous.create_array(
            store, shape=data.shape, chunks=(30, 30), dtype=data.dtype
        )
        await array.setitem(slice(None), data)
        again = await zarr.api.asynchronous.open_array(store=store)
        np.testing.assert_array_equal(await again.getitem(slice(None)), data)
        np.testing.assert_array_equal(await again.getitem((slice(10, 20), 5)), data[10:20, 5])

    asyncio.run(roundtrip())
    sync_fs = rosfs.S3FileSystem(**s3_options)
    assert any(name.endswith("zarr.json") for name in sync_fs.find(s3_bucket))
