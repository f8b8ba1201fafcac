"""stac-geoparquet files: a frame's items written with the ``stac-geoparquet`` package, and any
stac-geoparquet file (ours, rustac's, a bulk export's, a directory of its parts) read back into
the frame contract.

Written with ``stac-geoparquet`` rather than rustac: it is the specification's reference
implementation, pure Python over pyarrow (which terracat already has), and infers one Arrow
schema from the items themselves. One property is written differently from the items: the
original OpenSearch properties (:data:`~terracat.stacio.items.OPENSEARCH_PROPERTIES`) are JSON
text, since one schema inferred for every product's nested object gives each the keys of all,
as nulls. Other readers see that text; :func:`read_stac_geoparquet` gives the object back.

Read back record batch by record batch, the file's items go through the STAC decoder like a
STAC search's pages, so the frame has the columns (in the order of the file's properties),
views and file lists of a search of those items; memory holds a batch's items and the frame.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas
import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from terracat.exceptions import ParameterParserException, TerracatError
from terracat.frame import FrameBuilder
from terracat.frame.io import parquet_parts
from terracat.protocols.stac.page import StacFeature
from terracat.protocols.stac.partitions import as_stac_numbers
from terracat.protocols.stac.rows import StacDecoder
from terracat.stacio.items import OPENSEARCH_PROPERTIES, frame_items
from terracat.stacio.layouts import (
    PROJ_GEOMETRY,
    TOP_LEVEL,
    pandas_index_columns,
    projected_geometries,
    reader_batch,
)
from terracat.stacio.original import OriginalFilesDecoder

__all__ = [
    "FOLD",
    "GEOPARQUET_VERSION",
    "READ_BATCH",
    "STAC_GEOPARQUET_VERSION",
    "read_stac_geoparquet",
    "write_stac_geoparquet",
]

STAC_GEOPARQUET_VERSION = "1.0.0"
"""The stac-geoparquet specification version our files declare (the ``stac-geoparquet``
metadata key's ``version``: what the ``stac-geoparquet`` package writes)."""
GEOPARQUET_VERSION = "1.1.0"
"""The GeoParquet version of their ``geo`` metadata (1.1: ``bbox`` named as the covering)."""
READ_BATCH = 1_000
"""Rows of a file made into items at a time (a row group is read whole: Arrow's own batches
of a large one hold more of it than that)."""
FOLD = 2_000
"""Items decoded before the builder folds them into a partial frame: a fifth of a search's, as
an item with its assets is three to four times an OpenSearch product's properties."""

_encode = msgspec.json.Encoder().encode


def _formats(record: logging.LogRecord) -> bool:
    """Drop stac-geoparquet 0.8's ``logger.debug(batch.schema, batch)``: a record with an
    argument and no placeholder, which every handler that formats it fails on (logging then
    prints a traceback). Any other record passes."""
    return not (record.args and not isinstance(record.msg, str))


logging.getLogger("stac_geoparquet.arrow._api").addFilter(_formats)


def _stac_geoparquet() -> Any:
    """The ``stac_geoparquet.arrow`` module, imported on use: it is the ``stac`` extra."""
    try:
        import stac_geoparquet.arrow
    except ImportError:
        raise ImportError(
            "stac-geoparquet files are written and read with the stac-geoparquet package: "
            "pip install 'terracat[stac]'"
        ) from None
    return stac_geoparquet.arrow


def write_stac_geoparquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the frame's STAC items to ``path`` as stac-geoparquet; the path.

    The file declares stac-geoparquet 1.0.0 and GeoParquet 1.1.0 (:data:`STAC_GEOPARQUET_VERSION`,
    :data:`GEOPARQUET_VERSION`). An OpenSearch row's original properties are JSON text in it.

    >>> write_stac_geoparquet(df, "results.stac.parquet")  # doctest: +SKIP
    PosixPath('results.stac.parquet')
    """
    arrow = _stac_geoparquet()

    path = Path(path)
    items = [_for_parquet(item) for item in frame_items(frame)]
    if not items:
        raise ParameterParserException(
            f"output {str(path)!r}: stac-geoparquet needs at least one item to infer its schema, "
            "and the frame is empty"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    table = arrow.parse_stac_items_to_arrow(items)
    arrow.to_parquet(table, path, schema_version=GEOPARQUET_VERSION)
    return path


def _for_parquet(item: dict[str, Any]) -> dict[str, Any]:
    """The item as written: its OpenSearch properties, if it has them, as JSON text."""
    properties = item.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get(OPENSEARCH_PROPERTIES), dict):
        properties[OPENSEARCH_PROPERTIES] = _encode(properties[OPENSEARCH_PROPERTIES]).decode()
    return item


_INSTANT = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(?:Z|\+00:00)$")


def _rfc3339(value: object) -> object:
    """A UTC instant as STAC APIs write it (``...:11Z``, ``...:31.024Z``); anything else as is.

    A Parquet file keeps instants as timestamps, and its readers give them back each their own
    way (``.000000Z``, ``+00:00``): the text columns of a frame read back then match a search's.
    """
    if not isinstance(value, str):
        return value
    match = _INSTANT.match(value)
    if match is None:
        return value
    seconds, fraction = match.groups()
    fraction = (fraction or "").rstrip("0")
    return f"{seconds}.{fraction}Z" if fraction else f"{seconds}Z"


_decode = msgspec.json.Decoder().decode


def _original(value: object) -> object:
    """The OpenSearch properties written as JSON text, as the object again (text that is not
    JSON, another writer's, as it is)."""
    if not isinstance(value, str):
        return value
    try:
        return _decode(value)
    except msgspec.DecodeError:
        return value


def _item(item: dict[str, Any], order: list[str], projected: Any) -> dict[str, Any]:
    """An item as the reader gave it, finished: its properties in the file's column order (the
    reader moves its instants last), instants as STAC APIs write them, ``proj:geometry`` (taken
    out of the reader's hands) put back, the OpenSearch properties an object again."""
    given = item.get("properties")
    given = given if isinstance(given, dict) else {}
    if projected is not None:
        given[PROJ_GEOMETRY] = projected
    properties = {key: _rfc3339(given.pop(key)) for key in order if key in given}
    properties.update((key, _rfc3339(value)) for key, value in given.items())
    if OPENSEARCH_PROPERTIES in properties:
        properties[OPENSEARCH_PROPERTIES] = _original(properties[OPENSEARCH_PROPERTIES])
    item["properties"] = properties
    return item


def _feature(item: dict[str, Any]) -> StacFeature:
    return StacFeature(
        id=item.get("id"),
        properties=msgspec.Raw(_encode(item)),
        geometry=msgspec.Raw(_encode(item.get("geometry"))),
    )


def _batches(file: pq.ParquetFile) -> Iterator[pa.RecordBatch]:
    """The file's rows, :data:`READ_BATCH` at a time, one row group in memory (read whole:
    ``iter_batches`` holds more of a large row group than that)."""
    for group in range(file.num_row_groups):
        yield from file.read_row_group(group).to_batches(max_chunksize=READ_BATCH)


def _part_features(arrow: Any, part: Path) -> Iterator[list[StacFeature]]:
    """A part file's items as features, a record batch at a time; any failure to read them is
    an error naming the file (the reader's own are assertions and key errors)."""
    try:
        file = pq.ParquetFile(part)
        dropped = pandas_index_columns(file.schema_arrow)
        for batch in _batches(file):
            batch = reader_batch(batch, dropped)
            order = [name for name in batch.schema.names if name not in TOP_LEVEL]
            projected, batch = projected_geometries(batch)
            items = arrow.stac_table_to_items(pa.Table.from_batches([batch]))
            if projected is None:
                yield [_feature(_item(item, order, None)) for item in items]
            else:
                yield [
                    _feature(_item(item, order, geometry))
                    for item, geometry in zip(items, projected, strict=True)
                ]
    except TerracatError:
        raise
    except Exception as error:
        raise ParameterParserException(
            f"{str(part)!r} cannot be read as stac-geoparquet: {type(error).__name__}: {error}"
        ) from error


def read_stac_geoparquet(path: str | os.PathLike[str]) -> geopandas.GeoDataFrame:
    """A stac-geoparquet file's items as a product frame, as a STAC search of them gives it.

    ``path`` is a file, a directory of part files or a glob of them
    (:func:`terracat.frame.io.parquet_parts`), in the current layout or the older one of
    ``stac_geoparquet.to_geodataframe``. Items made from OpenSearch products get the products'
    own file lists back (:mod:`terracat.stacio.original`).

    Raises
    ------
    ParameterParserException
        naming the file, when a part cannot be read as stac-geoparquet

    >>> read_stac_geoparquet("earth-search/")  # doctest: +SKIP
    """
    arrow = _stac_geoparquet()

    builder = FrameBuilder(
        chunk=FOLD, source=str(path), decoder=OriginalFilesDecoder(StacDecoder())
    )
    for part in parquet_parts(path):
        for features in _part_features(arrow, part):
            builder.add(features)
    return as_stac_numbers(builder.build())
