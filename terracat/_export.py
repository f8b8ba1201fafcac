"""Writing a product frame to the file formats the CLI offers, by the file's extension.

GeoParquet keeps every column as it is; GeoJSON, GeoPackage and CSV hold only scalars, so the
file lists become JSON text there (the ``properties`` column already is).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas
import pandas as pd

from terracat.exceptions import ParameterParserException
from terracat.frame import FILE_COLUMNS

__all__ = ["FORMATS", "write_frame"]

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
