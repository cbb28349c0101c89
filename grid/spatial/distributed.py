"""Scale-out placement: the same ``Placer.place_frame`` run on dask partitions over a
dask.distributed cluster (a scheduler address, or a LocalCluster), written in file order by the
same writer as the single-process path — so the output is identical: byte for byte for CSV and
Parquet (whose row groups have a fixed size, ``grid.place.PARQUET_ROW_GROUP``, whatever the
partitions), row for row for GeoPackage (the format stores its write time).

Inputs are split by dask (``dask.dataframe`` for CSV and Parquet, ``dask_geopandas.read_file``
for GeoPackage) and read by the workers, so on several machines the input must be at the same
path on each (shared storage); the output is written by this process alone. The placer (cell
indexes and Party branch names) is built here from the database and broadcast once to every
worker, which needs no database access, only the same ``grid`` package. At most
``2 × workers`` partitions are in flight, so memory stays bounded however many partitions the
file has.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pandas as pd

from grid.errors import InvalidInput
from grid.place import (
    ChunkWriter,
    Placer,
    PlaceSummary,
    _progress,
    count_rows,
    file_format,
    points_to_lonlat,
)
from grid.spatial.chinacrs import normalise_crs


def _partitions(source: Path, chunk_rows: int, layer: str | None):
    """The input as a list of dask delayed pandas frames, in file order."""
    import dask
    import dask.dataframe as dd

    kind = file_format(source)
    # Keep text as object columns, as pandas' chunked reader does: identical output types.
    with dask.config.set({"dataframe.convert-string": False}):
        if kind == "csv":
            # ~100 bytes a row: blocks of about chunk_rows rows.
            frame = dd.read_csv(source, dtype=str, keep_default_na=False,
                                blocksize=max(chunk_rows * 100, 1 << 20))
        elif kind == "parquet":
            frame = dd.read_parquet(source, split_row_groups=True)
        else:
            import dask_geopandas

            rows = count_rows(source, layer) or 1
            frame = dask_geopandas.read_file(source, layer=layer,
                                             npartitions=max(1, -(-rows // chunk_rows)))
        return frame.to_delayed(), kind


def _place_part(frame: pd.DataFrame, placer: Placer, kind: str, lon_col: str, lat_col: str,
                crs: str | None) -> pd.DataFrame:
    if kind == "gpkg":
        geometry = frame.geometry.name
        frame = points_to_lonlat(pd.DataFrame(frame.drop(columns=geometry)),
                                 frame.geometry.to_numpy())
    return placer.place_frame(frame.reset_index(drop=True), lon_col, lat_col, crs)


def place_distributed(placer: Placer, source: Path, out: Path, *, scheduler: str = "local",
                      workers: int = 2, processes: bool = True, lon_col: str = "lon",
                      lat_col: str = "lat", crs: str | None = None, chunk_rows: int = 200_000,
                      layer: str | None = None, progress: bool = True) -> PlaceSummary:
    """Place ``source`` into ``out`` on a dask.distributed cluster (``scheduler`` address, or
    "local" for a LocalCluster of ``workers`` workers)."""
    from dask.distributed import Client, LocalCluster

    normalise_crs(crs)
    source, out = Path(source), Path(out)
    if not source.exists():
        raise InvalidInput(f"文件不存在 no such file: {source}")
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        return _run(client, placer, source, out, lon_col, lat_col, crs, chunk_rows, layer,
                    progress, window=2 * max(workers, len(client.scheduler_info()["workers"])))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(client, placer, source, out, lon_col, lat_col, crs, chunk_rows, layer, progress,
         window):
    parts, kind = _partitions(source, chunk_rows, layer)
    [placer_future] = client.scatter([placer], broadcast=True)
    summary = PlaceSummary()
    writer = ChunkWriter(out)
    pending: deque = deque()
    todo = iter(parts)
    with _progress(progress, count_rows(source, layer), source) as advance:
        try:
            while True:
                while len(pending) < window:
                    part = next(todo, None)
                    if part is None:
                        break
                    frame = client.compute(part)
                    pending.append(client.submit(_place_part, frame, placer_future, kind,
                                                 lon_col, lat_col, crs, pure=False))
                if not pending:
                    break
                placed = pending.popleft().result()  # in order: output keeps file order
                writer.write(placed)
                summary.add(placed, summary.rows)
                advance(len(placed))
        finally:
            writer.close()
    return summary
