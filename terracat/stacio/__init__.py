"""STAC items and stac-geoparquet from product frames, and stac-geoparquet back into frames.

:mod:`~terracat.stacio.from_opensearch` maps an OpenSearch product to a STAC item (shared with
the local catalogue's STAC face), :mod:`~terracat.stacio.items` turns a frame's rows into items,
:mod:`~terracat.stacio.geoparquet` writes and reads stac-geoparquet files, with
:mod:`~terracat.stacio.layouts` (other writers' layouts, as the reader wants them) and
:mod:`~terracat.stacio.original` (an OpenSearch product's own file lists, read back).
"""

from terracat.stacio.geoparquet import read_stac_geoparquet, write_stac_geoparquet
from terracat.stacio.items import OPENSEARCH_PROPERTIES, frame_items, is_stac_item, item_collection

__all__ = [
    "OPENSEARCH_PROPERTIES",
    "frame_items",
    "is_stac_item",
    "item_collection",
    "read_stac_geoparquet",
    "write_stac_geoparquet",
]
