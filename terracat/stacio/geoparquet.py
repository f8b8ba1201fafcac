"""stac-geoparquet files: a frame's items written with the ``stac-geoparquet`` package, and any
stac-geoparquet file (ours, rustac's, a bulk export's) read back into the frame contract.

Written with ``stac-geoparquet`` rather than rustac: it is the specification's reference
implementation, pure Python over pyarrow (which terracat already has), and infers one Arrow
schema from the items themselves. Read back, the file's items go through the STAC decoder like a
STAC search's page, so the frame has the columns, views and file lists of a search of those items.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def write_stac_geoparquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the frame's STAC items to ``path`` as stac-geoparquet (spec 1.1.0); the path."""
    import stac_geoparquet.arrow

    path = Path(path)
    items = list(frame_items(frame))
    if not items:
        raise ParameterParserException(
            f"output {str(path)!r}: stac-geoparquet needs at least one item to infer its schema, "
            "and the frame is empty"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    stac_geoparquet.arrow.to_parquet(stac_geoparquet.arrow.parse_stac_items_to_arrow(items), path)
    return path


def read_stac_geoparquet(path: str | os.PathLike[str]) -> geopandas.GeoDataFrame:
    """A stac-geoparquet file's items as a product frame, as a STAC search of them gives it."""
    import stac_geoparquet.arrow

    table = pq.read_table(path)
    features = []
    for item in stac_geoparquet.arrow.stac_table_to_items(table):
        features.append(
            StacFeature(
                id=item.get("id"),
                properties=msgspec.Raw(_encode(item)),
                geometry=msgspec.Raw(_encode(item.get("geometry"))),
            )
        )
    return features_frame(features, str(path), decoder=StacDecoder())
