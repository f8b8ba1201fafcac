"""Bad input to every public entry point: a TerracatError naming the parameter, and no request.

Hypothesis throws values of every JSON-ish and Python type at each parameter. A value the
catalogue could accept may go out; one that is refused must be refused before any request.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import terracat
from terracat import Catalogue, ParameterParserException, TerracatError

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.binary(max_size=10),
    st.lists(
        st.one_of(st.integers(-200, 200), st.floats(-200, 200), st.text(max_size=5)), max_size=6
    ),
    st.tuples(
        st.one_of(st.none(), st.integers(-50, 150), st.floats(-50, 150)),
        st.one_of(st.none(), st.integers(-50, 150)),
    ),
    st.dictionaries(
        st.sampled_from(["west", "south", "east", "north", "x"]), st.floats(-200, 200), max_size=5
    ),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
)

SEARCH_PARAMETERS = [
    "start",
    "end",
    "bbox",
    "geometry",
    "cloudCover",
    "relativeOrbitNumber",
    "publicationDate",
    "modificationDate",
    "limit",
    "tileId",
    "productType",
    "orbitDirection",
    "title",
]
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def catalogue(local_catalogue) -> Catalogue:
    return Catalogue(local_catalogue.config())


def _check(local, call, parameter: str) -> None:
    before = len(local.app.requests)
    try:
        call()
    except TypeError as error:  # a wrong Python type, the language's own answer
        assert parameter in str(error) or len(local.app.requests) == before
    except ParameterParserException as error:
        assert parameter in str(error), str(error)
        assert len(local.app.requests) == before, "a refused value reached the catalogue"
    except TerracatError as error:  # the catalogue refused what it was sent: a SearchException
        assert isinstance(error, terracat.SearchException), repr(error)


@pytest.mark.parametrize("parameter", SEARCH_PARAMETERS)
@FAST
@given(value=anything)
def test_search_refuses_bad_values_before_sending_them(
    local_catalogue, catalogue, parameter, value
):
    _check(
        local_catalogue,
        lambda: (
            catalogue.search(NDVI, limit=1, **{parameter: value})
            if parameter != "limit"
            else catalogue.search(NDVI, limit=value)
        ),
        parameter,
    )


@pytest.mark.parametrize("parameter", ["start", "end", "bbox", "cloudCover"])
@FAST
@given(value=anything)
def test_count_refuses_bad_values_before_sending_them(local_catalogue, catalogue, parameter, value):
    _check(local_catalogue, lambda: catalogue.count(NDVI, **{parameter: value}), parameter)


@pytest.mark.parametrize("parameter", ["start", "end", "bbox", "geometry", "platform"])
@FAST
@given(value=anything)
def test_collections_refuse_bad_values_before_sending_them(
    local_catalogue, catalogue, parameter, value
):
    _check(local_catalogue, lambda: catalogue.collections(**{parameter: value}), parameter)


@pytest.fixture(scope="module")
def one_product(catalogue) -> pd.DataFrame:
    return catalogue.search(NDVI, limit=1)


@pytest.mark.parametrize("parameter", ["file_types", "workers"])
@FAST
@given(value=anything)
def test_download_refuses_bad_options_before_any_transfer(
    local_catalogue, one_product, tmp_path_factory, parameter, value
):
    target = tmp_path_factory.mktemp("out")
    before = len(local_catalogue.app.downloads)
    try:
        one_product.terracat.download(target, progress=False, **{parameter: value})
    except ParameterParserException as error:
        assert parameter in str(error)
        assert len(local_catalogue.app.downloads) == before
        assert not any(target.iterdir())
