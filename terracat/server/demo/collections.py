"""The demo store's collection metadata: titles, abstracts, platforms, rights, as Terrascope's.

A collection feature is shaped like ``collections.json``'s (``fixtures/real/``) and spans the
footprints of its products.
"""

from __future__ import annotations

from typing import Any

from terracat.server.demo.features import _CATALOGUE_UPDATED, _FIRST_DAY, _iso
from terracat.server.demo.sentinel1 import _S1_DATA, SIGMA0_COLLECTION
from terracat.server.demo.sentinel2 import _TOC_DATA, NDVI_COLLECTION, TOC_COLLECTION

_CONTACT = {
    "type": "Organization",
    "email": "remotesensing@vito.be",
    "name": "VITO",
    "uri": "https://remotesensing.vito.be/",
    "hasAddress": {
        "country-name": "Belgium",
        "postal-code": "BE-2400",
        "locality": "Mol",
        "street-address": "Boeretang, 200",
    },
}
_RIGHTS = (
    "Products can be downloaded after fast registration / Licence: "
    "https://www.vito-eodata.be/PDF/image/TermsOfUse.pdf"
)
_S2_PLATFORMS = (("S2A", "2015-06-23T00:00:00Z"), ("S2B", "2017-03-07T01:49:00Z"))
_S1_PLATFORMS = (
    ("S1A", "2014-10-03T00:00:00Z", None),
    ("S1B", "2016-09-26T00:00:00Z", "2021-12-23T06:54:00Z"),
)

_COLLECTION_TEXT: dict[str, dict[str, Any]] = {
    TOC_COLLECTION: {
        "title": "Sentinel-2 top-of-canopy reflectance, Terrascope V2 (tiles)",
        "abstract": (
            "Atmospherically corrected (iCOR) Sentinel-2 MSI surface reflectance on the 109.8 km "
            "MGRS tiles, at 10, 20 and 60 m, with the scene classification and the viewing and "
            "sun angles of each tile. Downloads need a Terrascope account."
        ),
        "productType": "TOC",
        "keyword": ["TOC", "VITO", "Orthoimagery", "reflectance", "msi", "sentinel", "Level-2A"],
        "bands": [band for band, _, _ in _TOC_DATA],
    },
    NDVI_COLLECTION: {
        "title": "Sentinel-2 Normalized Difference Vegetation Index, Terrascope V2 (tiles)",
        "abstract": (
            "The NDVI, (NIR - red) / (NIR + red), of Sentinel-2 top-of-canopy reflectance on the "
            "MGRS tiles at 10 m, with the scene classification of each tile."
        ),
        "productType": "NDVI",
        "keyword": ["NDVI", "VITO", "vegetation", "msi", "sentinel", "Level-3"],
        "bands": ["NDVI_10M"],
    },
    SIGMA0_COLLECTION: {
        "title": "SENTINEL-1 Level-1 Ground Range Detected (GRD) SIGMA0 products",
        "abstract": (
            "Calibrated, terrain-corrected radar backscatter (sigma0) of Sentinel-1 IW GRDH "
            "products in VV and VH polarisation at 10 m in UTM, with the incidence angle; border "
            "and thermal noise removed."
        ),
        "productType": "SIGMA0",
        "keyword": ["VITO", "C-SAR", "SENTINEL-1", "RADAR BACKSCATTER", "RADAR"],
        "bands": [name for name, _, _ in _S1_DATA],
    },
}


def _collection(collection: str, products: list[dict[str, Any]]) -> dict[str, Any]:
    """A collection feature shaped like ``collections.json``'s, spanning its products."""
    text = _COLLECTION_TEXT[collection]
    west = min(p["bbox"][0] for p in products)
    south = min(p["bbox"][1] for p in products)
    east = max(p["bbox"][2] for p in products)
    north = max(p["bbox"][3] for p in products)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    if collection == SIGMA0_COLLECTION:
        acquisition = [
            {
                "platform": {"platformShortName": "SENTINEL-1", "platformSerialIdentifier": name},
                "instrument": {"instrumentShortName": "C-SAR", "sensorType": "RADAR"},
                "acquisitionParameters": {"beginningDateTime": begin}
                | ({"endingDateTime": end} if end else {}),
            }
            for name, begin, end in _S1_PLATFORMS
        ]
    else:
        acquisition = [
            {
                "platform": {"platformShortName": "SENTINEL-2", "platformSerialIdentifier": name},
                "instrument": {"instrumentShortName": "MSI", "sensorType": "OPTICAL"},
                "acquisitionParameters": {"beginningDateTime": begin},
            }
            for name, begin in _S2_PLATFORMS
        ]
    return {
        "type": "Feature",
        "id": collection,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [west, south, east, north],
        "properties": {
            "title": text["title"],
            "identifier": collection,
            "rights": _RIGHTS,
            "abstract": text["abstract"],
            "date": f"{_FIRST_DAY:%Y-%m-%d}T00:00:00Z/",
            "updated": _iso(_CATALOGUE_UPDATED),
            "lang": "eng",
            "keyword": text["keyword"],
            "publisher": "VITO",
            "authors": [
                {"type": "Organization", "email": "helpdeskticket@vgt.vito.be", "name": "VITO"}
            ],
            "contactPoint": [_CONTACT],
            "acquisitionInformation": acquisition,
            "productType": text["productType"],
            "bands": [{"title": band, "type": band} for band in text["bands"]],
            "links": {
                "describedby": [
                    {
                        "href": "https://www.vito-eodata.be/collections/srv/eng/main.home?uuid="
                        + collection,
                        "type": "text/html",
                        "title": "Collection Catalogue Entry",
                    }
                ],
                "via": [
                    {
                        "href": "https://www.vito-eodata.be/collections/srv/eng/xml_iso19139?uuid="
                        + collection,
                        "type": "application/vnd.iso.19139+xml",
                        "title": "INSPIRE Collection Metadata File",
                    }
                ],
            },
        },
    }
