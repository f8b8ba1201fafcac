"""A stac-geoparquet file's record batches in the layout the ``stac-geoparquet`` reader wants.

Files written elsewhere differ from what ``stac_geoparquet.arrow.stac_table_to_items`` reads:

- the older layout, ``stac_geoparquet.to_geodataframe(items).to_parquet(path)`` (Planetary
  Computer's bulk exports): no ``stac-geoparquet`` metadata key, ``bbox`` a list of 4 or 6
  numbers rather than a struct (the reader asserts a struct), ``proj:geometry`` a GeoJSON struct
  rather than WKB, and pandas' index as a column where it was not a range;
- any layout: items without a ``proj:geometry`` beside items with one (the reader fails on the
  null).

:func:`reader_batch` brings a batch to the current layout; ``proj:geometry`` is taken out of the
reader's hands (:func:`projected_geometries`) and put back in each item by the caller.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

__all__ = [
    "PROJ_GEOMETRY",
    "TOP_LEVEL",
    "pandas_index_columns",
    "projected_geometries",
    "reader_batch",
]

TOP_LEVEL = frozenset(
    [
        "type",
        "stac_version",
        "stac_extensions",
        "id",
        "collection",
        "geometry",
        "bbox",
        "links",
        "assets",
    ]
)
"""The item's own members among a file's columns (the specification's); every other column is a
property."""

PROJ_GEOMETRY = "proj:geometry"

_BOX = {
    4: ("xmin", "ymin", "xmax", "ymax"),
    6: ("xmin", "ymin", "zmin", "xmax", "ymax", "zmax"),
}


def pandas_index_columns(schema: pa.Schema) -> list[str]:
    """The columns a pandas writer made of an unnamed index (``__index_level_0__``, dask's
    ``__null_dask_index__``), which are no item's; none where the index was a range (kept as
    metadata only). A named index (``id``) is an item's column the writer indexed: kept."""
    try:
        described = json.loads((schema.metadata or {})[b"pandas"])["index_columns"]
    except (KeyError, TypeError, ValueError):
        return []
    return [
        name
        for name in described
        if isinstance(name, str) and name.startswith("__") and name in schema.names
    ]


def _bbox_struct(column: pa.Array) -> pa.Array:
    """A list ``bbox`` (the older layout) as the struct of 4 or 6 fields the reader wants."""
    if column.null_count:
        raise ValueError("bbox is null in some rows; stac-geoparquet's reader wants every item's")
    sizes = sorted(pc.unique(pc.list_value_length(column)).to_pylist())
    if len(sizes) != 1 or sizes[0] not in _BOX:
        raise ValueError(f"bbox has {sizes} values; stac-geoparquet wants 4 or 6")
    size = sizes[0]
    values = pc.list_flatten(column).cast(pa.float64()).to_numpy(zero_copy_only=False)
    values = values.reshape(-1, size)
    return pa.StructArray.from_arrays(
        [pa.array(np.ascontiguousarray(values[:, n])) for n in range(size)], names=_BOX[size]
    )


def reader_batch(batch: pa.RecordBatch, dropped: list[str]) -> pa.RecordBatch:
    """``batch`` in the current layout: ``dropped`` columns (a pandas index) left out, a list
    ``bbox`` made a struct."""
    if dropped:
        batch = batch.drop_columns(dropped)
    position = batch.schema.get_field_index("bbox")
    if position >= 0:
        kind = batch.schema.field(position).type
        if (
            pa.types.is_list(kind)
            or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)
        ):
            batch = batch.set_column(position, "bbox", _bbox_struct(batch.column(position)))
    return batch


_geojson = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode


def projected_geometries(batch: pa.RecordBatch) -> tuple[list[Any] | None, pa.RecordBatch]:
    """The batch's ``proj:geometry`` as GeoJSON objects (``None`` where an item has none), and
    the batch without that column; ``None`` and the batch itself where it has no such column.

    WKB (the current layout) is read by GEOS; a GeoJSON struct (the older one) is already the
    object. Coordinates come back as lists, as the reader gives the item's ``geometry``.
    """
    position = batch.schema.get_field_index(PROJ_GEOMETRY)
    if position < 0:
        return None, batch
    column = batch.column(position)
    rest = batch.remove_column(position)
    if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        return column.to_pylist(), rest
    shapes = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
    return [
        None if shape is None else _geojson.decode(_encode(shape.__geo_interface__))
        for shape in shapes
    ], rest
