"""Specification of the OpenSearch encoding: user parameters in, the catalogue's strings out
(read by terracat.request, written by terracat.protocols.opensearch.encode)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import wkt

from terracat.exceptions import ParameterParserException
from terracat.protocols.opensearch.encode import collection_query, product_query
from terracat.request import PRODUCT_FILTERS, check_limit, format_datetime, parse_datetime

COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
CEST = dt.timezone(dt.timedelta(hours=2))

few = settings(max_examples=60, deadline=None)


def encode(**params: Any) -> dict[str, str]:
    """The product query without its collection."""
    query = product_query(COLLECTION, **params)
    assert query.pop("collection") == COLLECTION
    return query


class GeoInterface:
    """A foreign geometry type that only speaks ``__geo_interface__``."""

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        return {"type": "Point", "coordinates": (4.5, 50.5)}


# --- every input form -------------------------------------------------------------------------

ENCODINGS: list[tuple[str, Any, str]] = [
    # start / end
    ("start", dt.date(2020, 1, 1), "2020-01-01"),
    ("end", dt.date(2020, 1, 1), "2020-01-01"),
    ("start", dt.date(999, 3, 4), "0999-03-04"),
    ("start", dt.datetime(2021, 2, 20, 10, 11, 12), "2021-02-20T10:11:12Z"),
    ("start", dt.datetime(2021, 2, 20, 12, 11, 12, tzinfo=CEST), "2021-02-20T10:11:12Z"),
    ("start", dt.datetime(2021, 2, 20, 10, 11, 12, 345000), "2021-02-20T10:11:12.345Z"),
    ("start", dt.datetime(2021, 2, 20, 10, 11, 12, 123456), "2021-02-20T10:11:12.123456Z"),
    ("end", dt.datetime(2021, 2, 20, tzinfo=dt.UTC), "2021-02-20T00:00:00Z"),
    ("start", pd.Timestamp("2021-02-20T10:11:12"), "2021-02-20T10:11:12Z"),
    (
        "start",
        pd.Timestamp("2021-02-20T11:11:12", tz="Europe/Brussels"),
        "2021-02-20T10:11:12Z",
    ),
    ("start", pd.Timestamp("2021-02-20T10:11:12.345000999"), "2021-02-20T10:11:12.345Z"),
    ("start", np.datetime64("2021-02-20T10:11:12"), "2021-02-20T10:11:12Z"),
    ("start", np.datetime64("2021-02-20T10:11:12.250", "ms"), "2021-02-20T10:11:12.25Z"),
    ("start", np.datetime64("2021-02-20"), "2021-02-20T00:00:00Z"),
    ("start", "2020-01-01", "2020-01-01"),
    ("start", " 2020-01-01 ", "2020-01-01"),
    ("start", "2021-02-20T10:11:12Z", "2021-02-20T10:11:12Z"),
    ("start", "2021-02-20T12:11:12+02:00", "2021-02-20T10:11:12Z"),
    ("start", "2021-02-20T10:11:12", "2021-02-20T10:11:12Z"),
    ("start", "2021-02-20 10:11:12", "2021-02-20T10:11:12Z"),
    ("end", "2021-02-20T10:11:12.500Z", "2021-02-20T10:11:12.5Z"),
    # bbox
    ("bbox", [4.1, 50.0, 5.5, 51.0], "4.1,50.0,5.5,51.0"),
    ("bbox", [4, 50, 5, 51], "4,50,5,51"),
    ("bbox", (4.1, 50, 5.5, 51), "4.1,50,5.5,51"),
    ("bbox", {"west": 4.1, "south": 50.0, "east": 5.5, "north": 51.0}, "4.1,50.0,5.5,51.0"),
    ("bbox", {"north": 51, "east": 5, "south": 50, "west": 4}, "4,50,5,51"),
    ("bbox", "4.1,50.0,5.5,51.0", "4.1,50.0,5.5,51.0"),
    ("bbox", " 4.1, 50 ,5.5 , 51 ", "4.1,50,5.5,51"),
    ("bbox", np.array([4.1, 50.0, 5.5, 51.0]), "4.1,50.0,5.5,51.0"),
    ("bbox", np.array([4.1, 50.0, 5.5, 51.0], dtype=np.float32), "4.1,50.0,5.5,51.0"),
    ("bbox", [np.int64(4), np.int32(50), np.float64(5.5), 51], "4,50,5.5,51"),
    ("bbox", [170, -10, -170, 10], "170,-10,-170,10"),  # across the antimeridian
    ("bbox", [-180, -90, 180, 90], "-180,-90,180,90"),
    ("bbox", [4, 50, 4, 50], "4,50,4,50"),  # a point is a box
    # geometry
    ("geometry", shapely.box(4, 50, 5, 51), "POLYGON ((5 50, 5 51, 4 51, 4 50, 5 50))"),
    ("geometry", shapely.Point(4.5, 50.25), "POINT (4.5 50.25)"),
    ("geometry", "POINT(4.5 50.25)", "POINT(4.5 50.25)"),
    ("geometry", "POLYGON ((4 50, 5 50, 5 51, 4 50))", "POLYGON ((4 50, 5 50, 5 51, 4 50))"),
    ("geometry", {"type": "Point", "coordinates": [4.5, 50.25]}, "POINT (4.5 50.25)"),
    (
        "geometry",
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
        "POINT (1 2)",
    ),
    ("geometry", GeoInterface(), "POINT (4.5 50.5)"),
    # cloudCover
    ("cloudCover", 60, "60]"),
    ("cloudCover", 60.5, "60.5]"),
    ("cloudCover", 0, "0]"),
    ("cloudCover", 100, "100]"),
    ("cloudCover", np.float64(12.5), "12.5]"),
    ("cloudCover", (1.0, 78), "[1.0,78]"),
    ("cloudCover", (None, 60), "60]"),
    ("cloudCover", (10, None), "[10"),
    ("cloudCover", (0, 0), "[0,0]"),
    ("cloudCover", "[10,60]", "[10,60]"),
    ("cloudCover", "{1,2,3}", "{1,2,3}"),
    # publicationDate / modificationDate
    (
        "publicationDate",
        (dt.date(2020, 1, 1), dt.date(2020, 2, 1)),
        "[2020-01-01,2020-02-01]",
    ),
    ("publicationDate", (dt.datetime(2020, 1, 1, 12), None), "[2020-01-01T12:00:00Z"),
    ("publicationDate", (None, "2020-02-01"), "2020-02-01]"),
    (
        "publicationDate",
        ("2020-01-01", "2020-01-01T10:00:00+02:00"),
        "[2020-01-01,2020-01-01T08:00:00Z]",
    ),
    ("publicationDate", "[2020-01-01,2020-02-01]", "[2020-01-01,2020-02-01]"),
    ("publicationDate", dt.date(2020, 1, 1), "2020-01-01"),
    ("modificationDate", (None, dt.datetime(2020, 1, 1, tzinfo=CEST)), "2019-12-31T22:00:00Z]"),
    ("modificationDate", "2020-01-01", "2020-01-01"),
    # relativeOrbitNumber
    ("relativeOrbitNumber", 37, "37"),
    ("relativeOrbitNumber", np.int16(37), "37"),
    ("relativeOrbitNumber", "37", "37"),
    ("relativeOrbitNumber", "{37,110}", "{37,110}"),
    # sent verbatim
    ("title", "S2B_20220201T105109_31UFS_TOC_V210", "S2B_20220201T105109_31UFS_TOC_V210"),
    ("productType", "L2A", "L2A"),
    ("orbitDirection", "DESCENDING", "DESCENDING"),
    ("tileId", "31UFS", "31UFS"),
    ("productGroupId", "group-1", "group-1"),
    ("accessedFrom", "MEP", "MEP"),
    ("title", "", ""),
]


@pytest.mark.parametrize(("parameter", "value", "sent"), ENCODINGS)
def test_product_parameter_is_sent_as_the_catalogue_reads_it(
    parameter: str, value: Any, sent: str
) -> None:
    assert encode(**{parameter: value}) == {parameter: sent}


@pytest.mark.parametrize(
    ("parameter", "value", "sent"),
    [e for e in ENCODINGS if e[0] in {"start", "end", "bbox", "geometry"}]
    + [("platform", "SENTINEL-2", "SENTINEL-2")],
)
def test_collection_parameter_is_sent_as_the_catalogue_reads_it(
    parameter: str, value: Any, sent: str
) -> None:
    assert collection_query(**{parameter: value}) == {parameter: sent}


@pytest.mark.parametrize("parameter", ["cloudCover", "publicationDate", "modificationDate"])
def test_an_interval_open_at_both_ends_is_left_out(parameter: str) -> None:
    assert encode(**{parameter: (None, None)}) == {}


def test_none_is_dropped_everywhere() -> None:
    assert product_query(COLLECTION, start=None, cloudCover=None, extra=None) == {
        "collection": COLLECTION
    }
    assert collection_query(platform=None, bbox=None, other=None) == {}


def test_zero_is_a_value_not_an_absence() -> None:
    # The reference drops falsy values, so cloudCover=0 searched without any cloud filter.
    assert encode(cloudCover=0) == {"cloudCover": "0]"}
    assert encode(cloudCover=(0, 0)) == {"cloudCover": "[0,0]"}
    assert encode(bbox=[0, 0, 0, 0]) == {"bbox": "0,0,0,0"}
    with pytest.raises(ParameterParserException, match="relativeOrbitNumber"):
        encode(relativeOrbitNumber=0)


def test_parameters_come_out_in_a_stable_order_collection_first() -> None:
    query = product_query(
        COLLECTION,
        accessedFrom="MEP",
        cloudCover=10,
        start="2020-01-01",
        sortKeys="title",
    )
    assert list(query) == ["collection", "start", "cloudCover", "accessedFrom", "sortKeys"]


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("title,,0", "title,,0"),
        (5, "5"),
        (2.5, "2.5"),
        (True, "True"),
        (dt.date(2020, 1, 2), "2020-01-02"),
    ],
)
def test_extra_keyword_parameters_are_passed_through_as_str(value: Any, sent: str) -> None:
    assert encode(sortKeys=value) == {"sortKeys": sent}
    assert collection_query(sortKeys=value) == {"sortKeys": sent}


def test_a_str_enum_is_sent_as_its_value() -> None:
    from enum import Enum

    # The (str, Enum) mixin, not StrEnum: its str() is 'Direction.DESCENDING' on Python 3.11.
    class Direction(str, Enum):  # noqa: UP042
        DESCENDING = "DESCENDING"

    assert encode(orbitDirection=Direction.DESCENDING) == {"orbitDirection": "DESCENDING"}
    assert encode(custom=Direction.DESCENDING) == {"custom": "DESCENDING"}


def test_a_datetime_string_is_normalised_and_a_date_string_kept() -> None:
    query = encode(start="2020-01-01", end="2020-01-31T23:59:59.999+00:00")
    assert query == {"start": "2020-01-01", "end": "2020-01-31T23:59:59.999Z"}


# --- what is refused, and how it is said ------------------------------------------------------

REFUSALS: list[tuple[str, Any, str]] = [
    # bbox
    ("bbox", [4.1, 50.0, 5.5], "got 3 values"),
    ("bbox", [4.1, 50.0, 5.5, 51.0, 0], "got 5 values"),
    ("bbox", [], "got 0 values"),
    ("bbox", ["4.1", 50.0, 5.5, 51.0], "not every coordinate is a number"),
    ("bbox", [True, 50.0, 5.5, 51.0], "not every coordinate is a number"),
    ("bbox", [None, 50.0, 5.5, 51.0], "not every coordinate is a number"),
    ("bbox", [math.nan, 50.0, 5.5, 51.0], "finite"),
    ("bbox", [4.1, math.inf, 5.5, 51.0], "finite"),
    ("bbox", [-181, 50, 5, 51], "longitudes"),
    ("bbox", [4, 50, 180.5, 51], "longitudes"),
    ("bbox", [4, -91, 5, 51], "latitudes"),
    ("bbox", [4, 50, 5, 90.1], "latitudes"),
    ("bbox", [4, 51, 5, 50], "must not be greater than north"),
    ("bbox", {"west": 4, "south": 50, "east": 5}, "missing key(s): north"),
    ("bbox", {"w": 4, "s": 50, "e": 5, "n": 51}, "missing key(s): west, south, east, north"),
    ("bbox", {"west": 4, "south": 50, "east": 5, "north": "51"}, "not every coordinate"),
    ("bbox", "4.1,50.0,5.5", "Expected 4 numbers"),
    ("bbox", "4.1,50.0,5.5,north", "Expected 4 numbers"),
    ("bbox", "4.1,nan,5.5,51", "Expected 4 numbers"),
    ("bbox", "4.1 50.0 5.5 51.0", "Expected 4 numbers"),
    ("bbox", "4,51,5,50", "must not be greater than north"),
    ("bbox", "200,50,5,51", "longitudes"),
    ("bbox", 5, "not int"),
    ("bbox", shapely.box(0, 0, 1, 1), "not Polygon"),
    ("bbox", np.zeros((2, 2)), "not ndarray"),
    # start / end
    ("start", "yesterday", "ISO 8601"),
    ("start", "2020-13-01", "ISO 8601"),
    ("end", "2020-01-01T25:00:00Z", "ISO 8601"),
    ("start", "", "ISO 8601"),
    ("start", 3.2, "not float"),
    ("start", 1609459200, "not int"),
    ("end", True, "not bool"),
    ("start", ("2020-01-01", "2020-02-01"), "give a range as start and end"),
    ("start", pd.NaT, "NaT"),
    ("end", np.datetime64("NaT"), "NaT"),
    ("start", dt.datetime(1, 1, 1, tzinfo=CEST), "UTC"),
    # cloudCover
    ("cloudCover", 101, "outside the range 0 to 100"),
    ("cloudCover", -0.5, "outside the range 0 to 100"),
    ("cloudCover", math.nan, "not a percentage"),
    ("cloudCover", True, "not a percentage"),
    ("cloudCover", (1, 2, 3), "A tuple of length 3 is not supported"),
    ("cloudCover", (1,), "A tuple of length 1 is not supported"),
    ("cloudCover", (), "A tuple of length 0 is not supported"),
    ("cloudCover", (78, 1.0), "lower bound of the interval is greater"),
    ("cloudCover", (None, 120), "outside the range 0 to 100"),
    ("cloudCover", ("10", None), "not a percentage"),
    ("cloudCover", [10, 60], "Use a tuple"),
    ("cloudCover", {"max": 60}, "not a percentage"),
    # publicationDate / modificationDate
    ("publicationDate", ("2020-01-01", "2020-01-02", "2020-01-03"), "A tuple of length 3"),
    ("publicationDate", (dt.date(2020, 2, 1), dt.date(2020, 1, 1)), "lower bound"),
    ("modificationDate", ("2020-01-01", "soon"), "ISO 8601"),
    ("modificationDate", (None, 5), "not int"),
    ("modificationDate", [dt.date(2020, 1, 1), None], "Use a tuple"),
    ("publicationDate", 2020, "not int"),
    # relativeOrbitNumber
    ("relativeOrbitNumber", 0, "positive int"),
    ("relativeOrbitNumber", -37, "positive int"),
    ("relativeOrbitNumber", True, "positive int"),
    ("relativeOrbitNumber", 37.0, "positive int"),
    ("relativeOrbitNumber", [37], "positive int"),
    # geometry
    ("geometry", "POLYGON ((4 50, 5 50", "not valid WKT"),
    ("geometry", "not a geometry", "not valid WKT"),
    ("geometry", "", "not valid WKT"),
    ("geometry", "POINT EMPTY", "empty"),
    ("geometry", shapely.Polygon(), "empty"),
    ("geometry", shapely.Point(math.nan, 1), "finite"),
    ("geometry", {"type": "Point"}, "cannot be read"),
    ("geometry", {"coordinates": [1, 2]}, "cannot be read"),
    ("geometry", {"type": "Hexagon", "coordinates": [1, 2]}, "cannot be read"),
    ("geometry", 42, "not int"),
    ("geometry", [4, 50, 5, 51], "not list"),
    # sent verbatim, but only when they are text
    ("title", 5, "Expected a str, not int"),
    ("productType", b"L2A", "Expected a str, not bytes"),
    ("orbitDirection", ["DESCENDING"], "Expected a str, not list"),
    ("tileId", 31, "Expected a str"),
    ("productGroupId", 1.5, "Expected a str"),
    ("accessedFrom", True, "Expected a str"),
]


@pytest.mark.parametrize(("parameter", "value", "reason"), REFUSALS)
def test_a_bad_value_is_refused_naming_parameter_value_and_what_is_valid(
    parameter: str, value: Any, reason: str
) -> None:
    with pytest.raises(ParameterParserException) as error:
        encode(**{parameter: value})
    message = str(error.value)
    assert f"'{parameter}' parameter" in message
    assert repr(value)[:100] in message
    assert reason in message


def test_refusal_is_a_value_error_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError, match="bbox"):
        encode(bbox=5)


def test_a_huge_value_is_shown_shortened() -> None:
    with pytest.raises(ParameterParserException) as error:
        encode(bbox=list(range(1000)))
    assert len(str(error.value)) < 500
    assert "..." in str(error.value)


def products_query(**params: Any) -> dict[str, str]:
    return product_query(COLLECTION, **params)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2021-01-02", "2021-01-01"),
        (dt.datetime(2021, 1, 1, 12), dt.date(2021, 1, 1)),
        ("2021-01-01T12:00:00+02:00", "2021-01-01T09:59:59Z"),
        (pd.Timestamp("2022-01-01"), np.datetime64("2021-12-31")),
    ],
)
def test_start_after_end_is_refused(start: Any, end: Any) -> None:
    for search in (products_query, collection_query):
        with pytest.raises(ParameterParserException, match="'start' and 'end'") as error:
            search(start=start, end=end)
        assert "after" in str(error.value)
        assert repr(start) in str(error.value)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2021-01-01", "2021-01-01"),
        ("2021-01-01T10:00:00+02:00", "2021-01-01T08:00:00Z"),
        (dt.date(2021, 1, 1), dt.datetime(2021, 1, 1)),
    ],
)
def test_start_equal_to_end_is_allowed(start: Any, end: Any) -> None:
    assert set(encode(start=start, end=end)) == {"start", "end"}


@pytest.mark.parametrize("collection", ["", "   ", None, 5, ["a"]])
def test_collection_must_be_a_non_empty_str(collection: Any) -> None:
    with pytest.raises(ParameterParserException, match="'collection' parameter"):
        product_query(collection)


def test_an_object_whose_str_fails_is_refused_naming_its_parameter() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(ParameterParserException, match="'custom' parameter"):
        encode(custom=Unprintable())


# --- limit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "checked"), [(None, None), (0, 0), (25, 25), (np.int64(3), 3)])
def test_check_limit_accepts_none_and_non_negative_ints(limit: Any, checked: int | None) -> None:
    result = check_limit(limit)
    assert result == checked
    assert result is None or type(result) is int


@pytest.mark.parametrize("limit", [-1, True, False, 1.0, 2.5, "10", [10], math.nan])
def test_check_limit_refuses_anything_else(limit: Any) -> None:
    with pytest.raises(ParameterParserException, match="'limit' parameter"):
        check_limit(limit)


# --- parse_datetime / format_datetime ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2020-01-01", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        (dt.date(2020, 1, 1), dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        (dt.datetime(2020, 1, 1, 10), dt.datetime(2020, 1, 1, 10, tzinfo=dt.UTC)),
        ("2020-01-01T12:00:00+02:00", dt.datetime(2020, 1, 1, 10, tzinfo=dt.UTC)),
        (pd.Timestamp("2020-01-01T10:00:00Z"), dt.datetime(2020, 1, 1, 10, tzinfo=dt.UTC)),
        (np.datetime64("2020-01-01T10:00"), dt.datetime(2020, 1, 1, 10, tzinfo=dt.UTC)),
    ],
)
def test_parse_datetime_gives_a_plain_aware_utc_datetime(value: Any, instant: dt.datetime) -> None:
    parsed = parse_datetime(value, "start")
    assert parsed == instant
    assert type(parsed) is dt.datetime
    assert parsed.tzinfo is dt.UTC


def test_parse_datetime_names_the_parameter_it_was_given() -> None:
    with pytest.raises(ParameterParserException, match="'publicationDate' parameter: 'soon'"):
        parse_datetime("soon", "publicationDate")


def test_format_datetime_refuses_what_is_not_a_datetime() -> None:
    with pytest.raises(TypeError, match="date"):
        format_datetime(dt.date(2020, 1, 1))  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31), timezones=offsets
)


@few
@given(aware_datetimes)
def test_format_datetime_round_trips_any_aware_datetime(value: dt.datetime) -> None:
    text = format_datetime(value)
    assert text.endswith("Z")
    assert dt.datetime.fromisoformat(text) == value
    assert not text.endswith("0Z") or "." not in text  # fractional zeros are trimmed


@few
@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_a_naive_datetime_is_read_as_utc(value: dt.datetime) -> None:
    text = format_datetime(value)
    assert dt.datetime.fromisoformat(text) == value.replace(tzinfo=dt.UTC)
    assert parse_datetime(text, "start") == value.replace(tzinfo=dt.UTC)


def parse_interval(text: str, read: Callable[[str], Any]) -> tuple[Any, Any]:
    """Read the catalogue's interval syntax back: ``[a,b]``, ``[a``, ``b]``."""
    if text.startswith("[") and text.endswith("]"):
        low, high = text[1:-1].split(",")
        return read(low), read(high)
    if text.startswith("["):
        return read(text[1:]), None
    assert text.endswith("]"), text
    return None, read(text[:-1])


percentages = st.one_of(
    st.integers(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)


@few
@given(st.one_of(st.none(), percentages), st.one_of(st.none(), percentages))
def test_cloud_cover_interval_round_trips(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        with pytest.raises(ParameterParserException, match="cloudCover"):
            encode(cloudCover=(low, high))
        return
    query = encode(cloudCover=(low, high))
    if low is None and high is None:
        assert query == {}
        return
    text = query["cloudCover"]
    assert (text.startswith("[") == (low is not None)) and (
        text.endswith("]") == (high is not None)
    )
    assert parse_interval(text, float) == (low, high)


@few
@given(percentages)
def test_a_cloud_cover_number_is_an_upper_bound(value: float) -> None:
    text = encode(cloudCover=value)["cloudCover"]
    assert parse_interval(text, float) == (None, value)
    assert text == f"{value}]"


times = st.one_of(
    st.dates(min_value=dt.date(1000, 1, 1)),
    st.datetimes(min_value=dt.datetime(1000, 1, 1)),
    aware_datetimes.filter(lambda d: d.year >= 1000),
)


def instant(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=value.tzinfo or dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def read_time(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text)
    assert ("T" in text) == text.endswith("Z"), text  # dates stay dates, times are UTC
    return parsed.replace(tzinfo=parsed.tzinfo or dt.UTC)


@few
@given(
    st.sampled_from(["publicationDate", "modificationDate"]),
    st.one_of(st.none(), times),
    st.one_of(st.none(), times),
)
def test_date_interval_round_trips(parameter: str, low: Any, high: Any) -> None:
    if low is not None and high is not None and instant(low) > instant(high):
        with pytest.raises(ParameterParserException, match=parameter):
            encode(**{parameter: (low, high)})
        return
    query = encode(**{parameter: (low, high)})
    if low is None and high is None:
        assert query == {}
        return
    expected = tuple(None if bound is None else instant(bound) for bound in (low, high))
    assert parse_interval(query[parameter], read_time) == expected


longitudes = st.one_of(
    st.integers(min_value=-180, max_value=180),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)
latitudes = st.one_of(
    st.integers(min_value=-90, max_value=90),
    st.floats(min_value=-90, max_value=90, allow_nan=False),
)


@st.composite
def valid_boxes(draw: st.DrawFn) -> list[float]:
    south, north = sorted([draw(latitudes), draw(latitudes)])
    return [draw(longitudes), south, draw(longitudes), north]


@few
@given(valid_boxes(), st.sampled_from(["list", "tuple", "dict", "str", "array"]))
def test_any_valid_box_round_trips(box: list[float], form: str) -> None:
    value: Any = {
        "list": box,
        "tuple": tuple(box),
        "dict": dict(zip(["west", "south", "east", "north"], box, strict=True)),
        "str": ", ".join(str(n) for n in box),
        "array": np.array(box, dtype=float),
    }[form]
    text = encode(bbox=value)["bbox"]
    assert [float(part) for part in text.split(",")] == [float(n) for n in box]
    if form in {"list", "tuple", "dict"}:  # exactly the reference's ",".join(str(i) ...)
        assert text == ",".join(str(n) for n in box)


@few
@given(longitudes, latitudes, longitudes, latitudes)
def test_any_box_with_south_above_north_is_refused(
    west: float, south: float, east: float, north: float
) -> None:
    if south == north:
        north = north - 1 if north > -90 else north + 1
    south, north = max(south, north), min(south, north)
    with pytest.raises(ParameterParserException, match="'bbox' parameter"):
        encode(bbox=[west, south, east, north])


def reference_encode(params: dict[str, Any]) -> dict[str, str]:
    """terracatalogueclient 0.1.19's ``_convert_parameters``, transcribed for the forms where
    terracat promises to send exactly what the reference sends."""

    def date_to_str(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.strftime("%Y-%m-%d")

    def interval(value: tuple[Any, Any], formatter: Callable[[Any], str]) -> str:
        low, high = value
        if low is None:
            return f"{formatter(high)}]"
        if high is None:
            return f"[{formatter(low)}"
        return f"[{formatter(low)},{formatter(high)}]"

    out: dict[str, str] = {}
    for key, value in params.items():
        if key in {"start", "end"}:
            out[key] = date_to_str(value)
        elif key in {"publicationDate", "modificationDate"}:
            out[key] = interval(value, date_to_str) if isinstance(value, tuple) else value
        elif key == "bbox":
            if isinstance(value, list):
                out[key] = ",".join(str(i) for i in value)
            else:
                out[key] = f"{value['west']},{value['south']},{value['east']},{value['north']}"
        elif key == "cloudCover":
            out[key] = interval(value, str) if isinstance(value, tuple) else f"{value}]"
        else:
            out[key] = str(value)
    return out


# Whole-second naive datetimes from year 1000: the reference neither converts time zones nor
# keeps fractions, and strftime does not pad years below 1000.
reference_times = st.one_of(
    st.dates(min_value=dt.date(1000, 1, 1)),
    st.datetimes(min_value=dt.datetime(1000, 1, 1)).map(lambda d: d.replace(microsecond=0)),
)


@st.composite
def reference_queries(draw: st.DrawFn) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if draw(st.booleans()):
        params["start"] = draw(reference_times)
    if draw(st.booleans()):
        params["end"] = draw(reference_times)
    if "start" in params and "end" in params and instant(params["start"]) > instant(params["end"]):
        params["start"], params["end"] = params["end"], params["start"]
    if draw(st.booleans()):
        box = draw(valid_boxes())
        params["bbox"] = draw(
            st.sampled_from([box, dict(zip(["west", "south", "east", "north"], box, strict=True))])
        )
    if draw(st.booleans()):
        low, high = sorted([draw(percentages), draw(percentages)])
        params["cloudCover"] = draw(st.sampled_from([high, (low, high), (None, high), (low, None)]))
    if draw(st.booleans()):
        low, high = sorted([draw(reference_times), draw(reference_times)], key=instant)
        params["publicationDate"] = draw(st.sampled_from([(low, high), (None, high), (low, None)]))
    if draw(st.booleans()):
        params["relativeOrbitNumber"] = draw(st.integers(min_value=1, max_value=175))
    if draw(st.booleans()):
        params["tileId"] = draw(st.text(max_size=8))
    return params


@few
@given(reference_queries())
def test_valid_input_is_sent_exactly_as_the_reference_client_sends_it(
    params: dict[str, Any],
) -> None:
    assert encode(**params) == reference_encode(params)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=6),
    st.complex_numbers(),
    st.decimals(),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=offsets),
    st.sampled_from(["2020-01-01", "POINT (1 2)", "4,50,5,51", "[1,2]", "nan", "Point", "type"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.tuples(inner, inner, inner),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["west", "south", "east", "north", "type", "coordinates"]),
                st.text(max_size=4),
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=8,
)
PARAMETERS = [*PRODUCT_FILTERS, "somethingElse"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARAMETERS), junk)
def test_junk_is_encoded_or_refused_never_crashes(parameter: str, value: Any) -> None:
    try:
        query = encode(**{parameter: value})
    except ParameterParserException as error:
        assert f"'{parameter}'" in str(error)
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())
    assert set(query) <= {parameter}


@few
@given(junk)
def test_junk_limit_is_checked_or_refused_never_crashes(value: Any) -> None:
    try:
        checked = check_limit(value)
    except ParameterParserException:
        return
    assert checked is None or (type(checked) is int and checked >= 0)


@few
@given(st.text(max_size=30))
def test_a_wkt_string_is_sent_as_given_or_refused(text: str) -> None:
    try:
        query = encode(geometry=text)
    except ParameterParserException as error:
        assert "'geometry' parameter" in str(error)
        return
    assert query == {"geometry": text}
    assert not wkt.loads(text).is_empty
