"""stac-geoparquet files: a frame's items written with the ``stac-geoparquet`` package, and any
stac-geoparquet file (ours, rustac's, a bulk export's) read back into the frame contract.

Written with ``stac-geoparquet`` rather than rustac: it is the specification's reference
implementation, pure Python over pyarrow (which terracat already has), and infers one Arrow
schema from the items themselves. Read back, the file's items go through the STAC decoder like a
STAC search's page, so the frame has the columns, views and file lists of a search of those items.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import geopandas
import msgspec
import pandas as pd
import pyarrow.parquet as pq

from terracat.exceptions import ParameterParserException
from terracat.frame import features_frame
from terracat.protocols.stac.page import StacFeature
from terracat.protocols.stac.rows import StacDecoder
from terracat.stacio.items import frame_items

__all__ = ["read_stac_geoparquet", "write_stac_geoparquet"]

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
    """Write the frame's STAC items to ``path`` as stac-geoparquet (spec 1.1.0); the path."""
    arrow = _stac_geoparquet()

    path = Path(path)
    items = list(frame_items(frame))
    if not items:
        raise ParameterParserException(
            f"output {str(path)!r}: stac-geoparquet needs at least one item to infer its schema, "
            "and the frame is empty"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    arrow.to_parquet(arrow.parse_stac_items_to_arrow(items), path)
    return path


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


def _item(item: dict[str, Any]) -> dict[str, Any]:
    properties = item.get("properties")
    if isinstance(properties, dict):
        item["properties"] = {key: _rfc3339(value) for key, value in properties.items()}
    return item


def read_stac_geoparquet(path: str | os.PathLike[str]) -> geopandas.GeoDataFrame:
    """A stac-geoparquet file's items as a product frame, as a STAC search of them gives it."""
    arrow = _stac_geoparquet()

    table = pq.read_table(path)
    features = []
    for item in map(_item, arrow.stac_table_to_items(table)):
        features.append(
            StacFeature(
                id=item.get("id"),
                properties=msgspec.Raw(_encode(item)),
                geometry=msgspec.Raw(_encode(item.get("geometry"))),
            )
        )
    return features_frame(features, str(path), decoder=StacDecoder())
