"""Searches on a catalogue's bad days: exact ids, or a SearchException that says why; never a hang.

The bounded form runs in CI; ``TERRACAT_FAULT_ROUNDS`` sets how many seeds the randomised
rounds try (``pytest -m slow`` with a larger value for a longer soak).
"""

from __future__ import annotations

import os
import time

import pytest

from terracat import Catalogue, SearchException

S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
ROUNDS = int(os.environ.get("TERRACAT_FAULT_ROUNDS", "4"))


@pytest.fixture
def catalogue(local_catalogue) -> Catalogue:
    # every fault at once fails a page with p = 0.23, so six retries leave a page failed with
    # p = 3e-5, a CI run in a few hundred; twelve make it 5e-9: the tests assert recovery, not luck
    config = local_catalogue.config()
    config.retries = 12
    return Catalogue(config)


def _ids(local, collection: str, limit: int | None = None) -> list[str]:
    ids = [f["id"] for f in local.store.collections[collection].products]
    return ids if limit is None else ids[:limit]


@pytest.mark.parametrize("kind", ["html", "truncated", "mangled"])
def test_a_garbled_page_is_fetched_again(local_catalogue, catalogue, faults, kind):
    faults.set(garble_burst=2, garble_kind=kind, routes={"products"})
    assert list(catalogue.search(S1, limit=350)["id"]) == _ids(local_catalogue, S1, 350)
    assert faults.injected["garble"] == 2


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("html", "not an OpenSearch GeoJSON page"),
        ("truncated", "not an OpenSearch GeoJSON page"),
        ("mangled", "not an OpenSearch GeoJSON page"),
    ],
)
def test_a_page_that_stays_garbled_is_a_clear_search_exception(
    local_catalogue, faults, kind, message
):
    config = local_catalogue.config()
    config.retries = 1
    faults.set(garble_rate=1.0, garble_kind=kind, routes={"products"})
    with pytest.raises(SearchException, match=message) as raised:
        Catalogue(config).search(S1, limit=10)
    assert raised.value.response.status_code == 200


def test_a_catalogue_slower_than_the_timeout_ends_in_a_search_exception(local_catalogue, faults):
    config = local_catalogue.config()
    config.search_timeout, config.retries = 0.2, 1
    faults.set(latency=1.0, routes={"products"})
    began = time.monotonic()
    with pytest.raises(SearchException, match=r"Timeout|timed out"):
        Catalogue(config).search(S1, limit=10)
    assert time.monotonic() - began < 30


@pytest.mark.parametrize("seed", range(ROUNDS))
def test_every_fault_at_once_gives_the_exact_ids(local_catalogue, catalogue, faults, seed):
    faults.set(
        error_rate=0.1,
        throttle_rate=0.05,
        retry_after=0,
        cut_rate=0.05,
        garble_rate=0.05,
        total_jitter=3,
        seed=seed,
        routes={"products"},
    )
    assert list(catalogue.search(NDVI, tileId="31UFS", count=40)["id"]) == [
        f["id"]
        for f in local_catalogue.store.collections[NDVI].products
        if f["properties"]["acquisitionInformation"][1]["acquisitionParameters"]["tileId"]
        == "31UFS"
    ]
    assert sum(faults.injected.values()) > 0


@pytest.mark.parametrize("seed", range(ROUNDS))
def test_lazy_views_under_faults_yield_the_exact_ids(local_catalogue, catalogue, faults, seed):
    faults.set(error_rate=0.1, cut_rate=0.05, garble_rate=0.05, seed=seed, routes={"products"})
    products = catalogue.get_products(S1, count=50, limit=400)
    assert [p.id for p in products] == _ids(local_catalogue, S1, 400)
