"""OGC OpenSearch GeoJSON (OGC 17-047r1): Terrascope, HR-VPP, CGLS.

:mod:`~terracat.protocols.opensearch.page` decodes an answer,
:mod:`~terracat.protocols.opensearch.paging` walks a result's pages,
:mod:`~terracat.protocols.opensearch.rows` and :mod:`~terracat.protocols.opensearch.arrow_rows`
flatten its products into rows, and :class:`OpenSearchDecoder` gives them to the frame builder.
"""

from terracat.protocols.opensearch.decoder import OpenSearchDecoder
from terracat.protocols.opensearch.page import Page, decode_page
from terracat.protocols.opensearch.paging import PageFetcher, Pages, Window, depth_of

__all__ = ["OpenSearchDecoder", "Page", "PageFetcher", "Pages", "Window", "decode_page", "depth_of"]
