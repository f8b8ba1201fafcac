"""STAC API catalogues (Terrascope's STAC API, the Copernicus Data Space, Earth Search, ...).

:mod:`~terracat.protocols.stac.page` decodes an ItemCollection, :mod:`~terracat.protocols.stac.rows`
flattens its items into rows and collections into a frame (:func:`collections_frame`);
:mod:`~terracat.protocols.stac.arrow_rows` is the items' fast path, by Arrow, and
:class:`StacDecoder` (:mod:`~terracat.protocols.stac.decoder`) the frame builder's decoder
joining the two.
"""

from terracat.protocols.stac.decoder import StacDecoder
from terracat.protocols.stac.page import StacFeature, StacPage, decode_stac_page
from terracat.protocols.stac.rows import collections_frame

__all__ = ["StacDecoder", "StacFeature", "StacPage", "collections_frame", "decode_stac_page"]
