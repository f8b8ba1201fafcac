"""Product frames in and out of files: GeoParquet both ways, and the other formats the CLI writes.

GeoParquet keeps every column as it is; GeoJSON, GeoPackage and CSV hold only scalars, so the
file lists become JSON text there (the ``properties`` column already is). A frame read back from
GeoParquet is brought back to the contract (:func:`read_frame`), and the file-list dtype is
registered with pandas so that it can read the dtype's name back from a file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from terracat.exceptions import ParameterParserException
from terracat.frame.contract import normalise_frame
from terracat.frame.files import FILE_COLUMNS, FILE_LIST_DTYPE

__all__ = ["FORMATS", "is_stac_geoparquet", "read_frame", "write_frame"]

FORMATS = {".parquet": "GeoParquet", ".geojson": "GeoJSON", ".gpkg": "GPKG", ".csv": "CSV"}


def _scalar_columns(frame: geopandas.GeoDataFrame) -> geopandas.GeoDataFrame:
    flat = frame.copy()
    for kind in FILE_COLUMNS:
        if kind in flat.columns:
            flat[kind] = pd.array([json.dumps(links) for links in flat[kind]], dtype="string")
    return flat


def write_frame(frame: geopandas.GeoDataFrame, path: str | Path) -> Path:
    """Write ``frame`` as the format its extension names (``.parquet``, ``.geojson``, ...)."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ParameterParserException(
            f"output {str(path)!r}: unknown format {path.suffix!r}; use one of {sorted(FORMATS)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "GeoParquet":
        frame.to_parquet(path)
    elif kind == "CSV":
        flat = _scalar_columns(frame)
        table = pd.DataFrame(flat.drop(columns=flat.geometry.name))
        table["geometry"] = flat.geometry.to_wkt()
        table.to_csv(path, index=False)
    else:
        _scalar_columns(frame).to_file(path, driver=kind)
    return path


def read_frame(path: str | Path, **kwargs: Any) -> geopandas.GeoDataFrame:
    """A frame written as GeoParquet, read back to the column contract (``kwargs`` go to
    :func:`geopandas.read_parquet`)."""
    return normalise_frame(geopandas.read_parquet(path, **kwargs))


STAC_GEOPARQUET_KEY = b"stac-geoparquet"
"""The file-metadata key the stac-geoparquet specification (1.0) has its writers set."""
STAC_COLUMNS = frozenset(("type", "stac_version", "id", "geometry", "assets"))
"""The columns every stac-geoparquet file has (older writers set no metadata key)."""


def is_stac_geoparquet(path: str | Path) -> bool:
    """Whether ``path`` is a stac-geoparquet file (items, one per row, properties as columns)
    rather than a product frame's GeoParquet: by its metadata key, else by its columns."""
    try:
        file = pq.ParquetFile(path)
    except (OSError, pa.ArrowException):
        return False  # not Parquet, or not there: read_frame says so as it always did
    if STAC_GEOPARQUET_KEY in (file.metadata.metadata or {}):
        return True
    columns = set(file.schema_arrow.names)
    return columns >= STAC_COLUMNS and "properties" not in columns


class _FileListDtypeName(pd.api.extensions.ExtensionDtype):
    """Lets pandas read the file-list dtype's name back from Parquet metadata.

    pandas records an Arrow-backed column's dtype in a Parquet file's metadata by its name
    (``list<item: struct<...>>[pyarrow]``) and cannot yet parse nested names back
    (pandas-dev/pandas#57411), so ``geopandas.read_parquet`` of a product frame would fail.
    Registered, this class turns exactly that name back into the dtype; it is never
    instantiated. Without terracat imported, ``geopandas.read_parquet(path,
    to_pandas_kwargs={"types_mapper": pd.ArrowDtype})`` reads such files.
    """

    name = "terracat-file-list-name"
    type = list

    @classmethod
    def construct_from_string(cls, string: str) -> Any:
        if string == str(FILE_LIST_DTYPE):
            return FILE_LIST_DTYPE
        raise TypeError(f"not terracat's file-list dtype: {string!r}")

    @classmethod
    def construct_array_type(cls) -> type[pd.api.extensions.ExtensionArray]:
        return pd.arrays.ArrowExtensionArray


pd.api.extensions.register_extension_dtype(_FileListDtypeName)
