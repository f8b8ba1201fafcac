"""What a notebook shows: maps of the footprints and product cards."""

from __future__ import annotations

import folium
import pytest

from terracat import Catalogue

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"


@pytest.fixture(scope="module")
def frame(local_catalogue):
    return Catalogue(local_catalogue.config()).search(NDVI, tileId="31UES", limit=20)


def test_explore_maps_the_footprints_coloured_by_a_column(frame):
    drawn = frame.terracat.explore("cloudCover")
    assert isinstance(drawn, folium.Map)
    page = drawn.get_root().render()
    assert frame["title"].iloc[0] in page  # the tooltips carry the titles
    assert "properties" not in frame.drop(columns="properties").columns


def test_explore_names_the_columns_when_the_colour_column_is_missing(frame):
    with pytest.raises(KeyError, match="tileId"):
        frame.terracat.explore("colour")


def test_a_product_card_shows_fields_files_and_the_quicklook(frame):
    product = next(frame.terracat.products())
    card = product._repr_html_()
    assert product.id in card and "cloudCover" in card and "file(s)" in card
    pictures = [p for p in product.previews if p.type in ("image/png", "image/jpeg")]
    assert (f'<img src="{pictures[0].href}"' in card) if pictures else ("<img" not in card)
    assert repr(product).startswith(f"Product({product.id!r}")
