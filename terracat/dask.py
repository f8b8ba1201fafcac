"""Searches and downloads too large for one process, on Dask (``pip install 'terracat[dask]'``).

A partitioned search is a ``dask_geopandas.GeoDataFrame`` whose partitions are time windows,
sized by ``count=0`` requests so that each holds at most ``partition_size`` products and stays
within the catalogue's paging depth; each partition is fetched by a worker with the ordinary
search. Windows overlap at their bounds, so each partition keeps only the products whose
acquisition begins in its window: the union has every product of the plain search exactly once.
A distributed download spreads a product frame's rows over the workers, each running the
ordinary downloader (partial files, resume, checks) into the shared target directory.

>>> import terracat.dask
>>> ddf = terracat.dask.search("urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1", start="2020-01-01")  # doctest: +SKIP
>>> ddf.to_parquet("s1/", write_index=False)  # a partitioned GeoParquet dataset  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import geopandas
import pandas as pd
import pyarrow as pa

from terracat.auth import StaticBearer, TokenScope
from terracat.catalogue import Catalogue, catalogue_for, default_catalogue
from terracat.config import CatalogueConfig
from terracat.exceptions import ParameterParserException, ProductDownloadException
from terracat.frame import FILE_COLUMNS
from terracat.products import file_kinds
from terracat.protocols.base import Partition
from terracat.request import SearchRequest
from terracat.transfer import REPORT_COLUMNS, FileTask

__all__ = ["download", "search", "sync"]

TOKEN_MINIMUM = 120
"""Seconds an access token handed to the workers must still be valid for (else it is renewed).

Workers cannot renew a sign-in (a refresh token is single-use), so a distributed download of
protected files must end within the access token's lifetime (minutes on Terrascope).
"""

PARTITION_SIZE = 10_000
"""The most products a partition holds by default (and never more than the paging depth)."""


def _dask() -> Any:
    try:
        import dask
        import dask.dataframe
        import dask_geopandas  # noqa: F401 - registers GeoDataFrame partitions with dask
    except ImportError:
        raise ImportError(
            "terracat.dask needs dask-geopandas: pip install 'terracat[dask]'"
        ) from None
    global _registered
    if not _registered:
        _register_schema()
        _registered = True
    return dask


_registered = False


def _product_frame_schema(frame: geopandas.GeoDataFrame, fallback: Any) -> pa.Schema:
    """The Parquet schema of a product frame, whose object columns hold no placeholder to type.

    dask infers a schema from placeholder values; a column of nulls, or of values of mixed
    types, is an object column with none, so it is written as text.
    """
    loose = [name for name in frame.columns if pd.api.types.is_object_dtype(frame[name])]
    inferred = fallback(frame.drop(columns=loose))
    fields = [
        pa.field(name, pa.string()) if name in loose else inferred.field(name)
        for name in frame.columns
    ]
    return pa.schema(fields, metadata=inferred.metadata)


def _register_schema() -> None:
    import dask_geopandas.backends  # noqa: F401 - its registration first, then ours over it
    from dask.dataframe.backends import pyarrow_schema_dispatch

    fallback = pyarrow_schema_dispatch.dispatch(geopandas.GeoDataFrame)

    def schema(frame: geopandas.GeoDataFrame) -> pa.Schema:
        product_frame = {*FILE_COLUMNS, "properties", "id"} <= set(frame.columns)
        return _product_frame_schema(frame, fallback) if product_frame else fallback(frame)

    pyarrow_schema_dispatch.register(geopandas.GeoDataFrame)(schema)


def _conform(frame: geopandas.GeoDataFrame, meta: geopandas.GeoDataFrame) -> geopandas.GeoDataFrame:
    """A partition with exactly the columns and dtypes of ``meta`` (missing ones as nulls).

    The backends declare dtypes every partition's values take (a STAC number is a float unless
    its field is an integer by definition); a value that still does not fit (text where the
    sample had numbers, a fraction in a field declared integer) keeps the column as the plain
    search keeps odd values, as objects, rather than failing the whole computation.
    """
    columns = {}
    for name, dtype in meta.dtypes.items():
        if name in frame.columns:
            columns[name] = _as_dtype(frame[name], dtype)
        else:
            columns[name] = pd.Series(pd.array([None] * len(frame), dtype=dtype), index=frame.index)
    return geopandas.GeoDataFrame(columns, geometry=meta.geometry.name, crs=meta.crs)


def _as_dtype(column: pd.Series, dtype: Any) -> pd.Series:
    if column.dtype == dtype:
        return column
    try:
        return column.astype(dtype)
    except (TypeError, ValueError):
        return pd.Series(pd.array(column.tolist(), dtype=object), index=column.index)


def _fetch_partition(
    config: CatalogueConfig, part: Partition, meta: geopandas.GeoDataFrame
) -> geopandas.GeoDataFrame:
    """One partition, on a worker: the products it owns, in the plain search's columns."""
    with Catalogue(config) as catalogue:
        frame = catalogue.backend.partition(part)
    begin = (
        frame["beginningDateTime"]
        if "beginningDateTime" in frame.columns
        else pd.Series(pd.NaT, index=frame.index)
    )
    owned = frame[part.owns(begin).to_numpy()].reset_index(drop=True)
    return _conform(owned, meta)


def search(
    collection: str,
    *,
    catalogue: Catalogue | None = None,
    partition_size: int = PARTITION_SIZE,
    **kwargs: Any,
) -> Any:
    """A lazy, partitioned search: a ``dask_geopandas.GeoDataFrame``, one time window per partition.

    Parameters are those of :func:`terracat.search` (``limit`` and ``split`` excepted: every
    product is fetched, in windows). Counting the windows happens now; fetching them happens on
    ``compute()`` / ``to_parquet()``, on whatever scheduler is active (a ``dask.distributed``
    client, or the default threads).
    """
    dask = _dask()
    if "limit" in kwargs or "split" in kwargs:
        raise ParameterParserException(
            "terracat.dask.search fetches every product: limit and split do not apply"
        )
    if (
        isinstance(partition_size, bool)
        or not isinstance(partition_size, int)
        or partition_size < 1
    ):
        raise ParameterParserException(
            f"partition_size must be a positive whole number, got {partition_size!r}"
        )
    catalogue = default_catalogue(catalogue)
    config = catalogue.config
    request = SearchRequest.for_products(collection, **kwargs)
    meta, windows = catalogue.backend.partitions(request, partition_size)
    if not windows:
        with dask.config.set({"dataframe.convert-string": False}):
            return dask.dataframe.from_pandas(meta, npartitions=1)
    parts = [dask.delayed(_fetch_partition)(config, window, meta) for window in windows]
    # dask would turn object columns into strings: the file lists must stay lists of dicts
    with dask.config.set({"dataframe.convert-string": False}):
        return dask.dataframe.from_delayed(parts, meta=meta, verify_meta=False)


def _worker_catalogue(config: CatalogueConfig, access_token: str | None) -> Catalogue:
    """A worker's catalogue, signed in with the token the client handed over (if any)."""
    catalogue = Catalogue(config)
    if access_token is not None:
        catalogue.sign_in_with(StaticBearer(access_token, TokenScope.of(config)))
    return catalogue


def _worker_token(catalogue: Catalogue) -> str | None:
    """An access token for the workers, who cannot renew a sign-in: a fresh one."""
    signer = catalogue.signer
    return signer.token_for(TOKEN_MINIMUM) if signer is not None else None


def _download_rows(
    rows: pd.DataFrame,
    config: CatalogueConfig,
    path: str,
    options: dict[str, Any],
    access_token: str | None,
) -> pd.DataFrame:
    catalogue = _worker_catalogue(config, access_token)
    try:
        return rows.terracat.download(
            path, catalogue=catalogue, progress=False, raise_on_failure=False, **options
        )
    finally:
        catalogue.close()


def download(
    frame: Any,
    path: str | os.PathLike[str],
    file_types: Any = "data",
    *,
    catalogue: Catalogue | None = None,
    partitions: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    raise_on_failure: bool = True,
) -> pd.DataFrame:
    """Download a (dask or pandas) product frame's files on the Dask workers; one combined report.

    ``path`` must be visible to every worker (a shared or local file system). Each worker runs
    the ordinary downloader on its rows, ``workers`` files at once.
    """
    dask = _dask()

    file_kinds(file_types)  # refuse a bad value before anything is scheduled
    if catalogue is None:
        attrs = getattr(frame, "attrs", {}) or {}
        origin = attrs.get("terracat", {})
        catalogue = catalogue_for(origin.get("catalogue"), origin.get("client"))
    options = {"file_types": file_types, "workers": workers, "overwrite": overwrite}
    token = _worker_token(catalogue)
    target = os.fspath(path)
    if isinstance(frame, pd.DataFrame):
        count = partitions or max(1, min(len(frame), 64))
        chunks = [frame.iloc[i::count] for i in range(count) if len(frame.iloc[i::count])]
        tasks = [
            dask.delayed(_download_rows)(chunk, catalogue.config, target, options, token)
            for chunk in chunks
        ]
        reports = list(dask.compute(*tasks))
    else:
        reports = list(
            dask.compute(
                *[
                    dask.delayed(_download_rows)(part, catalogue.config, target, options, token)
                    for part in frame.to_delayed()
                ]
            )
        )
    report = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame()
    failed = report[report["status"] == "failed"] if len(report) else report
    if raise_on_failure and len(failed):
        raise ProductDownloadException(
            f"{len(failed)} of {len(report)} files failed, the first: {failed['error'].iloc[0]}"
        )
    return report


def _fetch_chunk(
    config: CatalogueConfig,
    chunk: list[tuple[int, FileTask]],
    workers: int | None,
    access_token: str | None,
) -> list[tuple[int, dict[str, Any]]]:
    """On a worker: one chunk of a sync's file tasks, each report row with the task's index."""
    catalogue = _worker_catalogue(config, access_token)
    try:
        report = catalogue.download_tasks(
            [task for _, task in chunk], workers=workers, progress=False, raise_on_failure=False
        )
    finally:
        catalogue.close()
    return [(index, row) for (index, _), row in zip(chunk, report.to_dict("records"), strict=True)]


def _finished_one_by_one(dask: Any, parts: list[Any]) -> Any:
    """The chunks' results as each ends on a ``dask.distributed`` cluster, else all at once."""
    try:
        from distributed import as_completed, get_client

        client = get_client()
    except (ImportError, ValueError):  # no distributed, or no client: the local scheduler
        yield from dask.compute(*parts)
        return
    for future in as_completed(client.compute(parts)):
        yield future.result()


def sync(
    collection: str,
    path: str | os.PathLike[str],
    *,
    file_types: Any = "data",
    catalogue: Catalogue | None = None,
    partition_size: int = PARTITION_SIZE,
    partitions: int | None = None,
    workers: int | None = None,
    raise_on_failure: bool = True,
    **options: Any,
) -> Any:
    """:func:`terracat.sync` for large mirrors: the search partitioned, the files fetched on the
    Dask workers (``path`` visible to all of them).

    The manifest stays with the client, which records each product as the chunk of products
    holding it ends on the cluster (on the local scheduler, once all have ended; a killed run
    still resumes, from the files on disk). ``partitions`` is how many chunks the products
    are spread over (64 at most by default); ``workers`` the files each worker fetches at once;
    other options (``overlap``, ``replaced``, the search's filters) are :func:`terracat.sync`'s.
    """
    from terracat.mirroring.run import run_sync

    dask = _dask()
    catalogue = default_catalogue(catalogue)
    options.setdefault("progress", False)
    own = {k: options.pop(k) for k in ("overlap", "replaced", "progress") if k in options}

    def partitioned(**query: Any) -> geopandas.GeoDataFrame:
        frame = search(collection, catalogue=catalogue, partition_size=partition_size, **query)
        return geopandas.GeoDataFrame(frame.compute())

    def fetch(tasks: list[FileTask], *, on_row: Any, workers: int | None, **_: Any) -> pd.DataFrame:
        by_product: dict[str, list[tuple[int, FileTask]]] = {}
        for index, task in enumerate(tasks):
            by_product.setdefault(task.product, []).append((index, task))
        count = partitions or max(1, min(len(by_product), 64))
        chunks: list[list[tuple[int, FileTask]]] = [[] for _ in range(count)]
        for n, product_tasks in enumerate(by_product.values()):
            chunks[n % count].extend(product_tasks)
        token = _worker_token(catalogue)
        parts = [
            dask.delayed(_fetch_chunk)(catalogue.config, chunk, workers, token)
            for chunk in chunks
            if chunk
        ]
        rows: list[dict[str, Any] | None] = [None] * len(tasks)
        for finished in _finished_one_by_one(dask, parts):
            for index, row in finished:
                rows[index] = row
                on_row(index, row)
        return pd.DataFrame([r for r in rows if r is not None], columns=list(REPORT_COLUMNS))

    return run_sync(
        catalogue,
        collection,
        path,
        file_types=file_types,
        workers=workers,
        raise_on_failure=raise_on_failure,
        filters=options,
        search=partitioned,
        fetch=fetch,
        **own,
    )
