"""The items of the Copernicus Data Space and of Planetary Computer into the frame contract, on
the fast path and the general path alike.

Hand-written in the shapes their public documentation shows: the Data Space's assets are
``s3://eodata/...`` keys with the same file over https as ``alternate.https`` (``auth:refs``
naming its S3 and OpenID Connect schemes), its tile in ``grid:code``; Planetary Computer's are
https hrefs signed with a query string (a SAS token), its tile in ``s2:mgrs_tile``.
"""

from __future__ import annotations

import copy
import json

import pytest

from terracat.frame import FILE_COLUMNS, features_frame
from terracat.protocols.stac import StacDecoder, decode_stac_page
from tests.protocols.stac.test_fast_path import _assert_same_frames, _copies

DATA_SPACE_PRODUCT = "S2B_MSIL2A_20240601T103629_N0510_R008_T31UFS_20240601T133113"
SAFE = f"Sentinel-2/MSI/L2A/2024/06/01/{DATA_SPACE_PRODUCT}.SAFE"
ODATA = "https://download.dataspace.copernicus.eu/odata/v1/Products(5f2c1a0e-7d39-4b1e-9a55-0c3e2d1b8f47)"
SAS = (
    "st=2024-06-01T10%3A00%3A00Z&se=2024-06-02T10%3A00%3A00Z&sp=rl&sv=2021-06-08&sr=c"
    "&skoid=c85c15d6-d1ae-42d4-af60-e2ca0f81359b&sktid=72f988bf-86f1-41af-91ab-2d7cd011db47"
    "&skt=2024-06-01T09%3A00%3A00Z&ske=2024-06-08T09%3A00%3A00Z&sks=b&skv=2021-06-08"
    "&sig=Zm9vYmFyYmF6cXV4%3D"
)


def _data_space_band(band: str, resolution: str, size: int) -> dict:
    name = f"T31UFS_20240601T103629_{band}_{resolution}.jp2"
    path = f"GRANULE/L2A_T31UFS_A037810_20240601T104045/IMG_DATA/R{resolution}/{name}"
    nodes = "/".join(f"Nodes({part})" for part in [f"{DATA_SPACE_PRODUCT}.SAFE", *path.split("/")])
    return {
        "href": f"s3://eodata/{SAFE}/{path}",
        "type": "image/jp2",
        "title": f"{band} ({resolution})",
        "roles": ["data", "reflectance"],
        "file:size": size,
        "gsd": int(resolution.removesuffix("m")),
        "auth:refs": ["s3"],
        "alternate:name": "S3",
        "alternate": {
            "https": {
                "href": f"{ODATA}/{nodes}/$value",
                "alternate:name": "HTTPS",
                "auth:refs": ["oidc"],
            }
        },
    }


def data_space_item(**changes) -> dict:
    """A Sentinel-2 L2A item of the Data Space's STAC API (``stac.dataspace.copernicus.eu/v1``)."""
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json",
            "https://stac-extensions.github.io/authentication/v1.1.0/schema.json",
            "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
            "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
            "https://stac-extensions.github.io/sat/v1.1.0/schema.json",
            "https://stac-extensions.github.io/file/v2.1.0/schema.json",
        ],
        "id": DATA_SPACE_PRODUCT,
        "collection": "sentinel-2-l2a",
        "bbox": [4.43, 50.45, 6.0, 51.44],
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[4.43, 50.45], [6.0, 50.45], [6.0, 51.44], [4.43, 51.44], [4.43, 50.45]]
            ],
        },
        "properties": {
            "datetime": "2024-06-01T10:36:29.024000Z",
            "start_datetime": "2024-06-01T10:36:29.024000Z",
            "end_datetime": "2024-06-01T10:36:29.024000Z",
            "created": "2024-06-01T14:02:11.000000Z",
            "platform": "sentinel-2b",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": 12.48,
            "grid:code": "MGRS-31UFS",
            "sat:relative_orbit": 8,
            "sat:absolute_orbit": 37810,
            "sat:orbit_state": "descending",
            "product:type": "S2MSI2A",
            "processing:version": "05.10",
            "auth:schemes": {
                "s3": {"type": "s3"},
                "oidc": {
                    "type": "openIdConnect",
                    "openIdConnectUrl": "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/.well-known/openid-configuration",
                },
            },
        },
        "links": [],
        "assets": {
            "B02_10m": _data_space_band("B02", "10m", 126_000_000),
            "B8A_20m": _data_space_band("B8A", "20m", 31_000_000),
            "thumbnail": {
                "href": f"https://datahub.creodias.eu/odata/v1/Assets({DATA_SPACE_PRODUCT})/$value",
                "type": "image/jpeg",
                "roles": ["thumbnail", "overview"],
            },
            "product_metadata": {
                "href": f"s3://eodata/{SAFE}/MTD_MSIL2A.xml",
                "type": "application/xml",
                "roles": ["metadata"],
                "file:size": 54_000,
                "auth:refs": ["s3"],
                "alternate": {
                    "https": {
                        "href": f"{ODATA}/Nodes({DATA_SPACE_PRODUCT}.SAFE)/Nodes(MTD_MSIL2A.xml)/$value",
                        "auth:refs": ["oidc"],
                    }
                },
            },
        },
    }
    item.update(changes)
    return item


PC_BLOB = (
    "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/31/U/FS/2023/06/05/"
    "S2B_MSIL2A_20230605T103629_N0509_R008_T31UFS_20230605T133113.SAFE"
)


def planetary_computer_item(**changes) -> dict:
    """A Sentinel-2 L2A item of Planetary Computer, signed (its hrefs carry a SAS token)."""
    granule = f"{PC_BLOB}/GRANULE/L2A_T31UFS_A032658_20230605T104402"
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S2B_MSIL2A_20230605T103629_R008_T31UFS_20230605T133113",
        "collection": "sentinel-2-l2a",
        "bbox": [4.43, 50.45, 6.0, 51.44],
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[4.43, 50.45], [6.0, 50.45], [6.0, 51.44], [4.43, 51.44], [4.43, 50.45]]
            ],
        },
        "properties": {
            "datetime": "2023-06-05T10:36:29.024000Z",
            "platform": "Sentinel-2B",
            "proj:epsg": 32631,
            "instruments": ["msi"],
            "s2:mgrs_tile": "31UFS",
            "constellation": "Sentinel 2",
            "eo:cloud_cover": 3.44,
            "sat:orbit_state": "descending",
            "sat:relative_orbit": 8,
            "s2:product_type": "S2MSI2A",
            "s2:processing_baseline": "05.09",
            "s2:mean_solar_zenith": 32.1,
            "s2:water_percentage": 1.5,
        },
        "links": [],
        "assets": {
            "B02": {
                "href": f"{granule}/IMG_DATA/R10m/T31UFS_20230605T103629_B02_10m.tif?{SAS}",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "title": "Band 2 - Blue - 10m",
                "roles": ["data"],
                "gsd": 10.0,
            },
            "visual": {
                "href": f"{granule}/IMG_DATA/R10m/T31UFS_20230605T103629_TCI_10m.tif?{SAS}",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "title": "True color image",
                "roles": ["data"],
            },
            "granule-metadata": {
                "href": f"{granule}/MTD_TL.xml?{SAS}",
                "type": "application/xml",
                "roles": ["metadata"],
            },
            "tilejson": {
                "href": "https://planetarycomputer.microsoft.com/api/data/v1/item/tilejson.json"
                "?collection=sentinel-2-l2a&item=S2B_MSIL2A_20230605T103629_R008_T31UFS",
                "type": "application/json",
                "roles": ["tiles"],
            },
            "rendered_preview": {
                "href": "https://planetarycomputer.microsoft.com/api/data/v1/item/preview.png"
                "?collection=sentinel-2-l2a&item=S2B_MSIL2A_20230605T103629_R008_T31UFS",
                "type": "image/png",
                "roles": ["overview"],
            },
        },
    }
    item.update(changes)
    return item


def _frame(items: list[dict], **decoder) -> object:
    page = json.dumps({"type": "FeatureCollection", "features": items, "links": []}).encode()
    return features_frame(decode_stac_page(page).features, decoder=StacDecoder(**decoder))


def _categories(row) -> dict[str, list[str]]:
    return {kind: [entry["category"] for entry in row[kind]] for kind in FILE_COLUMNS}


def test_a_data_space_item_fills_the_opensearch_names_and_keeps_its_s3_hrefs():
    row = _frame([data_space_item()]).iloc[0]
    assert (row["tileId"], row["cloudCover"], row["relativeOrbitNumber"]) == ("31UFS", 12.48, 8)
    assert (row["orbitDirection"], row["productType"]) == ("DESCENDING", "S2MSI2A")
    assert _categories(row) == {
        "data": ["B02_10m", "B8A_20m"],
        "related": [],
        "previews": ["thumbnail"],
        "alternates": ["product_metadata"],
    }
    assert [e["href"] for e in row["data"]] == [
        f"s3://eodata/{SAFE}/GRANULE/L2A_T31UFS_A037810_20240601T104045/IMG_DATA/R10m/"
        "T31UFS_20240601T103629_B02_10m.jp2",
        f"s3://eodata/{SAFE}/GRANULE/L2A_T31UFS_A037810_20240601T104045/IMG_DATA/R20m/"
        "T31UFS_20240601T103629_B8A_20m.jp2",
    ]
    assert [e["length"] for e in row["data"]] == [126_000_000, 31_000_000]
    assert row["data"][0]["title"] == "B02 (10m)"


def test_the_https_alternate_is_taken_where_asked_and_the_rest_stays_as_it_is():
    item = data_space_item()
    row = _frame([item], alternates=("https",)).iloc[0]
    expected = [a["alternate"]["https"]["href"] for a in list(item["assets"].values())[:2]]
    assert [e["href"] for e in row["data"]] == expected
    assert row["data"][0]["href"].startswith(ODATA) and row["data"][0]["href"].endswith("/$value")
    assert row["alternates"][0]["href"].startswith(ODATA)
    assert row["previews"][0]["href"] == item["assets"]["thumbnail"]["href"]  # has none
    assert json.loads(row["properties"]) == item  # the item, s3 hrefs and all


def test_local_paths_come_before_the_asked_alternate_for_mep():
    item = data_space_item()
    band = item["assets"]["B02_10m"]
    band["alternate"]["local"] = {"href": f"/eodata/{SAFE}/B02.jp2"}
    mep = _frame([item], href_mode="MEP", alternates=("https",)).iloc[0]
    assert mep["data"][0]["href"] == f"file:///eodata/{SAFE}/B02.jp2"
    assert mep["data"][1]["href"].startswith(ODATA)  # no local path: the https one
    assert _frame([item], href_mode="MEP").iloc[0]["data"][1]["href"].startswith("s3://")


@pytest.mark.parametrize("alternates", [(), ("https",), ("https", "s3")])
@pytest.mark.parametrize("href_mode", ["", "MEP"])
def test_both_paths_give_the_same_frame_of_data_space_items(alternates, href_mode):
    items = _copies([data_space_item()], 8)
    odd = copy.deepcopy(items[3])
    del odd["assets"]["B8A_20m"]["alternate"]  # an asset without alternates: its own href
    items[3] = odd
    paths = _assert_same_frames(items, href_mode, batch=4, alternates=alternates)
    assert paths["arrow"] >= 1


def test_a_planetary_computer_item_keeps_its_signed_hrefs_whole():
    item = planetary_computer_item()
    row = _frame([item]).iloc[0]
    assert (row["tileId"], row["cloudCover"], row["orbitDirection"]) == (
        "31UFS",
        3.44,
        "DESCENDING",
    )
    assert row["relativeOrbitNumber"] == 8 and row["proj:epsg"] == 32631
    assert _categories(row) == {
        "data": ["B02", "visual"],  # Planetary Computer gives the true-colour image role data
        "related": ["tilejson"],
        "previews": ["rendered_preview"],
        "alternates": ["granule-metadata"],
    }
    assert [e["href"] for e in row["data"]] == [
        item["assets"]["B02"]["href"],
        item["assets"]["visual"]["href"],
    ]
    assert row["data"][0]["href"].endswith("_B02_10m.tif?" + SAS)
    assert all(e["length"] is None for e in row["data"])  # no file:size given
    assert row["data"][0]["title"] == "Band 2 - Blue - 10m"


def test_both_paths_give_the_same_frame_of_planetary_computer_items():
    items = _copies([planetary_computer_item(), data_space_item()], 8)
    assert _assert_same_frames(items, batch=4)["arrow"] >= 1
