"""A sync on a real dask.distributed cluster of processes: the same mirror as a local sync."""

from __future__ import annotations

import pandas as pd
import pytest

import terracat
import terracat.dask

from .conftest import NDVI, PRODUCTS, catalogue_of, manifest_table, tree


@pytest.mark.parametrize("protocol", ["opensearch", "stac"])
def test_a_dask_sync_makes_the_mirror_a_local_sync_makes(small, dask_client, tmp_path, protocol):
    catalogue = catalogue_of(small, protocol)
    report = terracat.dask.sync(
        NDVI, tmp_path / "dask", file_types="all", catalogue=catalogue, partition_size=5
    )
    local = terracat.sync(
        NDVI, tmp_path / "local", file_types="all", catalogue=catalogue, progress=False
    )
    assert report.complete and len(report.products) == PRODUCTS
    assert sorted(report.downloads["path"].str.replace("/dask/", "/")) == sorted(
        local.downloads["path"].str.replace("/local/", "/")
    )
    assert tree(tmp_path / "dask") == tree(tmp_path / "local")
    pd.testing.assert_frame_equal(
        manifest_table(tmp_path / "dask"), manifest_table(tmp_path / "local")
    )

    small.add_product(NDVI, like=small.store.collections[NDVI].products[0]["id"], id="S2A_NEW_V210")
    again = terracat.dask.sync(
        NDVI, tmp_path / "dask", file_types="all", catalogue=catalogue, partition_size=5
    )
    assert list(again.products.loc[again.products["action"] != "unchanged", "action"]) == ["new"]
    assert set(again.downloads["status"]) == {"downloaded"}
