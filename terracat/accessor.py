"""The ``.terracat`` accessor on product frames: a thin door to views (and, later, downloads).

Registered on import of :mod:`terracat`. It validates the frame, keeps no state (pandas caches
the accessor on the frame) and delegates to module functions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from terracat.client import Product, product_from_row, rows

__all__ = ["TerracatAccessor"]

REQUIRED = ("id", "title", "properties", "geometry")


@pd.api.extensions.register_dataframe_accessor("terracat")
class TerracatAccessor:
    """Product-frame methods: ``df.terracat.products()``."""

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise AttributeError(
                f"this frame is not a terracat product frame: column(s) {missing} missing. "
                "Frames from terracat.search() or terracat.read_parquet() have them."
            )
        self._frame = frame

    def products(self) -> Iterator[Product]:
        """The rows as documented ``Product`` objects, in frame order.

        Examples
        --------
        >>> for product in df.terracat.products():  # doctest: +SKIP
        ...     print(product.id, product.data[0].href)
        """
        return map(product_from_row, rows(self._frame))
