"""STAC API catalogues (Terrascope's STAC API, the Copernicus Data Space, Earth Search, ...).

:mod:`~terracat.protocols.stac.page` decodes an ItemCollection, :mod:`~terracat.protocols.stac.rows`
flattens its items into rows (:class:`StacDecoder`, for the frame builder) and collections into a
frame (:func:`collections_frame`).
"""

from terracat.protocols.stac.page import StacFeature, StacPage, decode_stac_page
from terracat.protocols.stac.rows import StacDecoder, collections_frame

__all__ = ["StacDecoder", "StacFeature", "StacPage", "collections_frame", "decode_stac_page"]
