"""What a notebook shows: maps of the footprints and product cards."""

from __future__ import annotations

import html
import json

import folium
import geopandas
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terracat import Catalogue, Collection
from terracat.frame import write_frame

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


# ---- collection cards -------------------------------------------------------------------------


def test_a_collection_card_shows_title_id_time_extent_bbox_types_and_links(local_catalogue):
    catalogue = Catalogue(local_catalogue.config())
    collection = next(c for c in catalogue.get_collections() if c.id == NDVI)
    card = collection._repr_html_()
    assert f"<strong>{NDVI}</strong>" in card
    assert html.escape(collection.properties["title"]) in card
    start = collection.properties["date"].split("/")[0]
    assert f"<th>time extent</th><td>{start} to " in card
    assert "<th>bbox</th><td>" + ", ".join(f"{v:g}" for v in collection.bbox) in card
    for kind in collection.properties["productType"]:
        assert kind in card
    for links in collection.properties["links"].values():
        assert all(f'href="{html.escape(link["href"])}"' in card for link in links)


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@given(st.text(min_size=1, max_size=30).map(lambda t: t + HOSTILE))
def test_a_collection_card_escapes_whatever_the_catalogue_sends(title):
    properties = {
        "title": title,
        "productType": [title],
        "date": f"{title}/",
        "links": {"describedby": [{"href": f'javascript:"{title}', "title": title}]},
    }
    card = Collection(title, {}, None, [4.0, 50.0, 5.0, 51.0], properties)._repr_html_()
    assert "<script" not in card and "<img" not in card and '"x"' not in card
    assert html.escape(title) in card
    assert card.count("<a ") == 1 and card.count("<table>") == 1


# ---- a GeoJSON export read back with geopandas ------------------------------------------------


def _as_json_text(frame, columns):
    return frame.assign(**{c: frame[c].map(json.dumps) for c in columns})


@pytest.mark.parametrize("form", ["as geopandas reads it", "file lists as JSON text"])
def test_a_geojson_export_read_back_gives_the_same_products_and_files(frame, tmp_path, form):
    back = geopandas.read_file(write_frame(frame, tmp_path / "products.geojson"))
    assert isinstance(back["properties"].iloc[0], dict)  # what broke the views
    if form != "as geopandas reads it":
        back = _as_json_text(back, ["data", "related", "previews", "alternates"])
    fresh, read = list(frame.terracat.products()), list(back.terracat.products())
    assert [p.id for p in read] == [p.id for p in fresh]
    assert [p.properties for p in read] == [p.properties for p in fresh]
    assert [p.files() for p in read] == [p.files() for p in fresh]
    assert [p.beginningDateTime for p in read] == [p.beginningDateTime for p in fresh]
    files = back.terracat.files("all")
    assert files["href"].tolist() == frame.terracat.files("all")["href"].tolist()
