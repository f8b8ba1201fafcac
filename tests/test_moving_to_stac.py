"""Moving from OpenSearch to STAC is a change of configuration, not of code: the same
``search`` call against the demo's two faces gives the same products."""

from __future__ import annotations

import pytest

import terracat

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"


def _stac(local_catalogue) -> terracat.Catalogue:
    config = local_catalogue.config()
    config.catalogue_url = local_catalogue.url + "stac/"
    config.protocol = "stac"
    return terracat.Catalogue(config)


@pytest.mark.parametrize(
    ("collection", "filters"),
    [
        (NDVI, {"start": "2021-06-01", "end": "2021-06-30", "cloudCover": 60, "tileId": "31UFS"}),
        (NDVI, {"start": "2021-06-01", "end": "2021-06-10", "bbox": [4.1, 50.0, 5.5, 51.0]}),
        (S1, {"start": "2020-03-01", "end": "2020-03-15", "relativeOrbitNumber": 37}),
        (S1, {"start": "2020-03-01", "end": "2020-03-15", "orbitDirection": "ASCENDING"}),
    ],
)
def test_the_same_search_gives_the_same_products_on_both_faces(
    local_catalogue, collection, filters
):
    opensearch = terracat.search(
        collection, catalogue=terracat.Catalogue(local_catalogue.config()), **filters
    )
    stac = terracat.search(collection, catalogue=_stac(local_catalogue), **filters)
    assert len(opensearch) > 0
    # OpenSearch ids carry the collection's urn before the STAC id, as Terrascope's do
    by_id = stac.set_index("id")
    ids = [i.rsplit(":", 1)[-1] for i in opensearch["id"]]
    assert sorted(ids) == sorted(by_id.index)
    for row, stac_id in zip(opensearch.itertuples(), ids, strict=True):
        twin = by_id.loc[stac_id]
        assert row.beginningDateTime == twin["beginningDateTime"]
        assert row.geometry.equals_exact(twin["geometry"], 1e-9)
        for column in ("cloudCover", "tileId", "relativeOrbitNumber", "orbitDirection"):
            if column in opensearch.columns:
                assert getattr(row, column) == twin[column] or (
                    getattr(row, column) != getattr(row, column)  # both missing (NaN)
                    and twin[column] != twin[column]
                ), column
        ours = sorted((f["href"].rsplit("/", 1)[-1], f["length"]) for f in row.data)
        theirs = sorted((f["href"].rsplit("/", 1)[-1], f["length"]) for f in twin["data"])
        assert ours == theirs
