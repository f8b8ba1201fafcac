"""The ``.terracat`` accessor on product frames: a thin door to views, file listings, downloads and maps.

Registered on import of :mod:`terracat`. It validates the frame, keeps no state (pandas caches
the accessor on the frame) and delegates to module functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from terracat.catalogue import Catalogue, catalogue_for
from terracat.frame import FILE_COLUMNS, FILE_FIELDS, file_list_arrow
from terracat.products import Product, file_kinds, product_from_row, row_links, rows
from terracat.transfer import file_tasks

__all__ = ["TerracatAccessor"]

REQUIRED = ("id", "title", "properties", "geometry")
_FILES_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("rank", pa.int8()),
        ("product", pa.string()),
        ("kind", pa.string()),
        *((field, pa.int64() if field == "length" else pa.string()) for field in FILE_FIELDS),
    ]
)
_FILES_DTYPES = {pa.string(): pd.StringDtype(), pa.int64(): pd.Int64Dtype()}


@pd.api.extensions.register_dataframe_accessor("terracat")
class TerracatAccessor:
    """Product-frame methods: views, file listings and downloads."""

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

    def files(self, file_types: Any = "data") -> pd.DataFrame:
        """One row per file of the chosen kinds: product, kind and the link's fields.

        Built from the Arrow file lists in C++, in frame order, each product's kinds in
        ``data, related, previews, alternates`` order.

        Examples
        --------
        >>> df.terracat.files("data,related").groupby("kind").length.sum()  # doctest: +SKIP
        """
        kinds = [kind for kind in file_kinds(file_types) if kind in self._frame.columns]
        ids = pa.array(self._frame["id"], pa.string())
        parts = [_FILES_SCHEMA.empty_table()]
        for rank, kind in enumerate(kinds):
            lists = file_list_arrow(self._frame[kind])
            if isinstance(lists, pa.ChunkedArray):
                lists = lists.combine_chunks()
            rows = pc.list_parent_indices(lists)
            entries = pc.list_flatten(lists)
            columns = {
                "row": rows.cast(pa.int64()),
                "rank": pa.array(np.full(len(rows), rank, np.int8)),
                "product": ids.take(rows),
                "kind": pa.array(np.full(len(rows), kind, object), pa.string()),
                **{field: entries.field(field) for field in FILE_FIELDS},
            }
            parts.append(pa.table(columns, schema=_FILES_SCHEMA))
        table = pa.concat_tables(parts).sort_by([("row", "ascending"), ("rank", "ascending")])
        return table.drop_columns(["row", "rank"]).to_pandas(types_mapper=_FILES_DTYPES.get)

    def total_size(self, file_types: Any = "data") -> int:
        """The bytes the catalogue announces for the chosen files (unknown lengths count 0)."""
        return int(self.files(file_types)["length"].fillna(0).sum())

    def download(
        self,
        path: str | os.PathLike[str],
        file_types: Any = "data",
        *,
        workers: int | None = None,
        progress: bool = True,
        overwrite: bool = False,
        raise_on_failure: bool = True,
        link: bool = False,
        catalogue: Catalogue | None = None,
    ) -> pd.DataFrame:
        """Download the files behind the rows into ``path/<product id after its last ':'>/``.

        Parameters
        ----------
        path :
            the target directory (created as needed)
        file_types :
            ``ProductFileType`` flags or names (``"data"``, ``"data,related"``, ``"all"``)
        workers :
            files transferred at once; the configuration's ``DownloadWorkers`` (8) by default
        progress :
            show a byte progress bar over the whole batch
        overwrite :
            fetch files again even when a complete copy is already there
        raise_on_failure :
            raise the first failure (after the transfers under way end) instead of reporting it
        link :
            for ``file://`` hrefs, link to the file instead of copying it
        catalogue :
            whose session and credentials to use; by default the catalogue the frame came from

        Returns
        -------
        pandas.DataFrame
            one row per file: product, kind, href, path, bytes (transferred by this call: the
            rest of a resumed file, 0 for a skipped one), status (downloaded, resumed, skipped,
            failed), error, seconds

        Examples
        --------
        >>> report = df.query("cloudCover < 10").terracat.download("out/")  # doctest: +SKIP
        >>> report.status.value_counts()  # doctest: +SKIP
        """
        kinds = file_kinds(file_types)
        if catalogue is None:
            origin = self._frame.attrs.get("terracat", {})
            catalogue = catalogue_for(origin.get("catalogue"), origin.get("client"))
        tasks = file_tasks(row_links(self._frame, kinds), Path(path), kinds)
        return catalogue.download_tasks(
            tasks,
            workers=workers,
            progress=progress,
            overwrite=overwrite,
            raise_on_failure=raise_on_failure,
            link=link,
        )

    def to_stac_items(self) -> Iterator[dict[str, Any]]:
        """The rows as STAC items (dicts), in frame order.

        A STAC search's row gives back its item exactly; an OpenSearch row gives a STAC 1.1
        item (the local catalogue's STAC mapping), its original properties kept under
        ``opensearch:properties``.

        Examples
        --------
        >>> next(df.terracat.to_stac_items())["properties"]["eo:cloud_cover"]  # doctest: +SKIP
        """
        from terracat.stacio import frame_items

        return frame_items(self._frame)

    def to_stac(self) -> dict[str, Any]:
        """The rows as one STAC ItemCollection (a GeoJSON FeatureCollection of items).

        Examples
        --------
        >>> json.dump(df.terracat.to_stac(), open("results.json", "w"))  # doctest: +SKIP
        """
        from terracat.stacio import item_collection

        return item_collection(self._frame)

    def to_stac_geoparquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the rows' STAC items as a stac-geoparquet file (read back by
        :func:`terracat.read_parquet`, ``stac_geoparquet``, rustac or DuckDB).

        Examples
        --------
        >>> df.terracat.to_stac_geoparquet("results.stac.parquet")  # doctest: +SKIP
        """
        from terracat.stacio import write_stac_geoparquet

        return write_stac_geoparquet(self._frame, path)

    def explore(self, column: str | None = "cloudCover", **kwargs: Any) -> Any:
        """An interactive map of the footprints, coloured by ``column`` (needs the ``explore`` extra).

        The file lists and raw properties are left out of the map's tooltips; other keyword
        arguments go to :meth:`geopandas.GeoDataFrame.explore`.

        Examples
        --------
        >>> df.terracat.explore("cloudCover")  # doctest: +SKIP
        """
        try:
            import folium  # noqa: F401
        except ImportError:
            raise ImportError(
                "df.terracat.explore() draws with folium: pip install 'terracat[explore]'"
            ) from None
        shown = self._frame.drop(
            columns=[c for c in (*FILE_COLUMNS, "properties") if c in self._frame.columns]
        )
        if column is not None and column not in shown.columns:
            raise KeyError(
                f"no column {column!r} to colour by; choose one of {list(shown.columns)}"
            )
        tooltip = [c for c in ("title", "beginningDateTime", column) if c in shown.columns]
        kwargs.setdefault("tooltip", tooltip)
        if column is not None:
            kwargs.setdefault("cmap", "viridis_r" if column == "cloudCover" else "viridis")
        return shown.explore(column=column, **kwargs)
