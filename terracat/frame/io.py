"""Product frames in and out of files: GeoParquet both ways, and the other formats the CLI writes.

GeoParquet keeps every column as it is; GeoJSON, GeoPackage and CSV hold only scalars, so the
file lists become JSON text there (the ``properties`` column already is). A frame read back from
GeoParquet is brought back to the contract (:func:`read_frame`), and the file-list dtype is
registered with pandas so that it can read the dtype's name back from a file's metadata.
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path
from typing import Any

import geopandas
import pandas as pd
import pyarrow as pa
import pyarrow.dataset
import pyarrow.parquet as pq

from terracat.exceptions import ParameterParserException
from terracat.frame.contract import normalise_frame
from terracat.frame.files import FILE_COLUMNS, FILE_LIST_DTYPE

__all__ = ["FORMATS", "is_stac_geoparquet", "parquet_parts", "read_frame", "write_frame"]

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


_GLOB = re.compile(r"[*?[]")


def parquet_parts(path: str | os.PathLike[str]) -> list[Path]:
    """The files ``path`` names: itself, the part files of a directory, or a glob's matches.

    Bulk exports come as directories of ``part-*.parquet``: a directory's files are found as
    ``pyarrow.dataset`` finds them (in subdirectories too; hidden and ``_``-prefixed files such
    as ``_SUCCESS`` left out), sorted. Every file found is a part: one that is not Parquet
    fails its read, rather than leaving the frame silently short of its products.

    >>> parquet_parts("exports/part-*.parquet")  # doctest: +SKIP
    [PosixPath('exports/part-00000.parquet'), PosixPath('exports/part-00001.parquet')]
    """
    path = Path(path)
    if path.is_dir():
        # an empty schema: the files listed, none opened to infer one
        found = pyarrow.dataset.dataset(path, format="parquet", schema=pa.schema([])).files
        return sorted(Path(file) for file in found)
    if not path.exists() and _GLOB.search(str(path)):
        return sorted(Path(file) for file in glob.glob(str(path)) if Path(file).is_file())
    return [path]


def is_stac_geoparquet(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is stac-geoparquet (items, one per row, properties as columns) rather
    than a product frame's GeoParquet: by its metadata key, else by its columns. A directory or
    a glob of part files is told by its first Parquet part."""
    for part in parquet_parts(path):
        try:
            file = pq.ParquetFile(part)
        except (OSError, pa.ArrowException):
            continue  # not Parquet, or not there: read_frame says so as it always did
        if STAC_GEOPARQUET_KEY in (file.metadata.metadata or {}):
            return True
        columns = set(file.schema_arrow.names)
        return columns >= STAC_COLUMNS and "properties" not in columns
    return False


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
