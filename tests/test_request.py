"""Specification of terracat.request: the one list of filters, and the signatures made from it."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
import shapely

from terracat import Catalogue
from terracat.request import (
    COLLECTION_FILTERS,
    FILTERS,
    PRODUCT_FILTERS,
    Area,
    Box,
    Instant,
    Interval,
    SearchRequest,
    Verbatim,
)

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"

# The reference client's documented signatures (../shared/API.md), parameter by parameter.
REFERENCE_PRODUCT_FILTERS = [
    "start",
    "end",
    "bbox",
    "geometry",
    "title",
    "productType",
    "relativeOrbitNumber",
    "orbitDirection",
    "cloudCover",
    "tileId",
    "productGroupId",
    "publicationDate",
    "modificationDate",
    "accessedFrom",
]
REFERENCE_COLLECTION_FILTERS = ["start", "end", "bbox", "geometry", "platform"]


def _names(method) -> list[str]:
    return list(inspect.signature(method).parameters)


def test_the_filter_lists_are_the_references():
    assert list(PRODUCT_FILTERS) == REFERENCE_PRODUCT_FILTERS
    assert list(COLLECTION_FILTERS) == REFERENCE_COLLECTION_FILTERS
    assert len({f.name for f in FILTERS}) == len(FILTERS)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (
            Catalogue.get_products,
            ["self", "collection", *REFERENCE_PRODUCT_FILTERS, "limit", "kwargs"],
        ),
        (
            Catalogue.search,
            ["self", "collection", *REFERENCE_PRODUCT_FILTERS, "limit", "split", "kwargs"],
        ),
        (Catalogue.get_collections, ["self", *REFERENCE_COLLECTION_FILTERS, "kwargs"]),
        (Catalogue.collections, ["self", *REFERENCE_COLLECTION_FILTERS, "kwargs"]),
    ],
)
def test_the_facade_signatures_are_the_documented_ones(method, expected):
    assert _names(method) == expected
    parameters = inspect.signature(method).parameters
    assert all(parameters[name].default is None for name in expected if name in PRODUCT_FILTERS)
    assert method.__doc__  # the docstring survives the generated signature


def test_filters_may_be_given_by_position_as_in_the_reference(local_catalogue):
    catalogue = Catalogue(local_catalogue.config())
    by_position = catalogue.search(
        NDVI, "2021-07-01", "2021-07-31", None, None, None, None, None, None, None, "31UFS"
    )
    by_name = catalogue.search(NDVI, start="2021-07-01", end="2021-07-31", tileId="31UFS")
    assert len(by_name) > 0
    assert list(by_position["id"]) == list(by_name["id"])
    assert by_name.attrs["terracat"]["query"]["tileId"] == "31UFS"


def test_a_filter_given_twice_is_a_type_error_as_for_any_python_call(local_catalogue):
    catalogue = Catalogue(local_catalogue.config())
    with pytest.raises(TypeError, match="start"):
        catalogue.search(NDVI, "2021-07-01", start="2021-07-02")


def test_a_request_holds_neutral_values():
    request = SearchRequest.for_products(
        NDVI,
        start=dt.date(2022, 2, 1),
        end="2022-03-01T10:00:00+01:00",
        bbox="4.1, 50, 5.5,51",
        geometry=shapely.Point(4.5, 50.5),
        cloudCover=60,
        relativeOrbitNumber="{1,2}",
        publicationDate=(None, dt.date(2022, 1, 1)),
        sortKeys="title",
        limit=5,
    )
    assert request.collection == NDVI and request.limit == 5
    filters = request.filters
    assert filters["start"] == Instant(dt.datetime(2022, 2, 1, tzinfo=dt.UTC), is_date=True)
    assert filters["end"] == Instant(dt.datetime(2022, 3, 1, 9, tzinfo=dt.UTC))
    assert filters["bbox"] == Box(4.1, 50.0, 5.5, 51.0, text="4.1,50,5.5,51")
    assert isinstance(filters["geometry"], Area) and filters["geometry"].wkt == "POINT (4.5 50.5)"
    assert filters["cloudCover"] == Interval(None, 60)
    assert filters["relativeOrbitNumber"] == Verbatim("{1,2}")
    assert filters["publicationDate"] == Interval(
        None, Instant(dt.datetime(2022, 1, 1, tzinfo=dt.UTC), is_date=True)
    )
    assert request.extra == {"sortKeys": "title"}
    assert list(filters) == [name for name in PRODUCT_FILTERS if name in filters]


def test_a_collection_search_takes_platform_and_no_product_filters():
    request = SearchRequest.for_collections(platform="SENTINEL-2", tileId="31UFS")
    assert request.collection is None
    assert request.filters == {"platform": "SENTINEL-2"}
    assert request.extra == {"tileId": "31UFS"}  # not a collection filter: passed on as given
