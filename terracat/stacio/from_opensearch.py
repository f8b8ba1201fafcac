"""Any OpenSearch product as a STAC 1.1 item: the mapping both the local catalogue's STAC face and
``df.terracat.to_stac()`` use, so that a product reads the same through either.

Pure functions over the OpenSearch shape (``acquisitionInformation``, ``productInformation``,
file links ``{href, length, title, type, category}``), no HTTP and nothing of the server or the
frame: the STAC face (:mod:`terracat.server.stac_items`) adds its links, served hrefs and sign-in;
:mod:`terracat.stacio.items` adds the frame's file lists and the original properties.

The shapes follow Terrascope's STAC API as it answered in 2026
(``fixtures/real/stac/search_s2_toc_2026.json``): the extensions it lists, asset keys that are band
names (``B04``, ``SCL``, ``CLOUDMASK``, ``QUICKLOOK``, ``metadata``) with roles and ``file:size``,
local paths in ``alternate.local``, collection ids such as ``terrascope-s2-toc-v2``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

import shapely

__all__ = [
    "AUTH_SCHEME",
    "EXTENSIONS",
    "PROVIDERS",
    "STAC_VERSION",
    "acquisition",
    "extensions",
    "item_assets",
    "item_properties",
    "stac_collection_id",
    "stac_item_id",
]

STAC_VERSION = "1.1.0"

_EXT = "https://stac-extensions.github.io"
EXTENSIONS = {
    "eo": f"{_EXT}/eo/v2.0.0/schema.json",
    "sat": f"{_EXT}/sat/v1.0.0/schema.json",
    "sar": f"{_EXT}/sar/v1.0.0/schema.json",
    "product": f"{_EXT}/product/v0.1.0/schema.json",
    "mgrs": f"{_EXT}/mgrs/v1.0.0/schema.json",
    "grid": f"{_EXT}/grid/v1.1.0/schema.json",
    "processing": f"{_EXT}/processing/v1.2.0/schema.json",
    "file": f"{_EXT}/file/v2.1.0/schema.json",
    "raster": f"{_EXT}/raster/v2.0.0/schema.json",
    "proj": f"{_EXT}/projection/v2.0.0/schema.json",
    "alternate": f"{_EXT}/alternate-assets/v1.2.0/schema.json",
    "auth": f"{_EXT}/authentication/v1.1.0/schema.json",
}
"""Extension schema URLs by field prefix, in the order and at the versions Terrascope's 2026
items list them (sar added for Sentinel-1); an item lists those whose fields it has."""

AUTH_SCHEME = "oidc"


def stac_collection_id(collection_id: str) -> str:
    """'urn:eop:VITO:TERRASCOPE_S2_TOC_V2' -> 'terrascope-s2-toc-v2' (Terrascope's STAC naming).

    The last part of the URN, lower case, anything but letters and digits as one hyphen: a
    URL path segment whatever the store's id (a GeoParquet export may name collections freely).

    >>> stac_collection_id("urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1")
    'cgs-s1-grd-sigma0-l1'
    """
    tail = collection_id.rsplit(":", 1)[-1].lower()
    return re.sub(r"[^a-z0-9]+", "-", tail).strip("-") or "collection"


def stac_item_id(feature: dict[str, Any]) -> str:
    """A product's item id: its name without the collection URN, as Terrascope's items have it."""
    return str(feature["id"]).rsplit(":", 1)[-1]


def acquisition(properties: dict[str, Any]) -> dict[str, Any]:
    """platform, instrument and acquisitionParameters of every block, merged (first one wins):
    what a product's acquisition is read from (the server's store and both faces too)."""
    merged: dict[str, Any] = {}
    for block in properties.get("acquisitionInformation") or []:
        for section in ("platform", "instrument", "acquisitionParameters"):
            for key, value in (block.get(section) or {}).items():
                merged.setdefault(key, value)
    return merged


# ---- the OpenSearch shape, read ----------------------------------------------------------------


def _lower(value: Any) -> str | None:
    return str(value).lower() if value not in (None, "") else None


def _platform(acquisition: dict[str, Any]) -> dict[str, Any]:
    """STAC's platform/constellation/instruments: 'S2A' -> 'sentinel-2a', 'SENTINEL-2'."""
    constellation = _lower(acquisition.get("platformShortName"))
    serial = acquisition.get("platformSerialIdentifier")
    platform = None
    if serial and constellation and constellation.startswith("sentinel-"):
        platform = f"{constellation}{str(serial)[-1].lower()}"
    elif serial:
        platform = str(serial).lower()
    instrument = _lower(acquisition.get("instrumentShortName"))
    return {
        "platform": platform,
        "instruments": [instrument] if instrument else None,
        "constellation": constellation,
    }


_MGRS = re.compile(r"^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})$")


def _mgrs(tile: Any) -> dict[str, Any]:
    """'31UFS' -> mgrs:* and grid:code 'MGRS-31UFS' (nothing for a product without a tile)."""
    match = _MGRS.match(str(tile or ""))
    if not match:
        return {}
    zone, band, square = match.groups()
    return {
        "mgrs:utm_zone": int(zone),
        "mgrs:latitude_band": band,
        "mgrs:grid_square": square,
        "grid:code": f"MGRS-{tile}",
    }


def _number(value: Any) -> int | float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def item_properties(feature: dict[str, Any]) -> dict[str, Any]:
    """STAC properties (common metadata and extension fields) of one OpenSearch product."""
    stored = feature["properties"]
    acquired = acquisition(stored)
    information = stored.get("productInformation") or {}
    attributes = stored.get("additionalAttributes") or {}
    begin = acquired.get("beginningDateTime") or stored.get("date")
    end = acquired.get("endingDateTime") or begin
    version = information.get("productVersion")
    properties: dict[str, Any] = {
        "title": stored.get("title"),
        "datetime": begin,
        "start_datetime": begin,
        "end_datetime": end,
        "created": stored.get("creationDate"),
        "updated": stored.get("updated"),
        "providers": PROVIDERS,
        **_platform(acquired),
        "gsd": _number(attributes.get("resolution")),
        "eo:cloud_cover": _number(information.get("cloudCover")),
        "sat:absolute_orbit": _number(acquired.get("orbitNumber")),
        "sat:relative_orbit": _number(acquired.get("relativeOrbitNumber")),
        "sat:orbit_state": _lower(acquired.get("orbitDirection")),
        "product:type": information.get("productType"),
        **_mgrs(acquired.get("tileId")),
        "processing:facility": information.get("processingCenter"),
        "processing:datetime": information.get("processingDate"),
        "processing:version": str(version).lstrip("Vv") if version else None,
        "proj:code": information.get("referenceSystemIdentifier"),
        **_sar(acquired),
    }
    grid = _proj_bbox(feature.get("geometry"), properties["proj:code"])
    if grid is not None:
        west, south, east, north = grid
        properties["proj:bbox"] = grid
        properties["proj:geometry"] = {
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        }
    return {key: value for key, value in properties.items() if value is not None}


PROVIDERS = [
    {"name": "ESA", "roles": ["producer"], "url": "https://earth.esa.int/"},
    {"name": "VITO", "roles": ["processor", "host"], "url": "https://terrascope.be/"},
]


def _sar(acquisition: dict[str, Any]) -> dict[str, Any]:
    """The sar extension's fields of a radar product (Sentinel-1), nothing for an optical one."""
    if str(acquisition.get("sensorType", "")).upper() != "RADAR":
        return {}
    channels = acquisition.get("polarisationChannels") or ""
    return {
        "sar:instrument_mode": acquisition.get("operationalMode") or acquisition.get("sensorMode"),
        "sar:frequency_band": "C",
        "sar:center_frequency": 5.405,
        "sar:polarizations": [c.strip() for c in str(channels).split(",") if c.strip()],
        "sar:product_type": "GRD",
    }


# ---- files as assets ---------------------------------------------------------------------------

# Terrascope's 2026 asset keys for the stored files' titles; other titles drop their resolution
# suffix ('AOT_60M' -> 'AOT') and the product prefix of band files ('TOC-B04_10M' -> 'B04').
_KEY_OF_TITLE = {"SCENECLASSIFICATION": "SCL"}
_RESOLUTION = re.compile(r"_(\d+)M$", re.IGNORECASE)

# Sentinel-2 MSI bands (as in Terrascope's items): common name, centre wavelength and full
# width at half maximum in micrometres.
_S2_BANDS = {
    "B01": ("coastal", 0.443, 0.027),
    "B02": ("blue", 0.49, 0.098),
    "B03": ("green", 0.56, 0.045),
    "B04": ("red", 0.665, 0.038),
    "B05": ("rededge", 0.704, 0.019),
    "B06": ("rededge", 0.74, 0.018),
    "B07": ("rededge", 0.783, 0.028),
    "B08": ("nir", 0.842, 0.145),
    "B8A": ("nir08", 0.865, 0.033),
    "B09": ("nir09", 0.945, 0.026),
    "B11": ("swir16", 1.61, 0.143),
    "B12": ("swir22", 2.19, 0.242),
}


# The pixels of each file as Terrascope's items describe them: data type, scale, offset, no-data
# value and unit (raster extension and STAC 1.1 common fields); Sentinel-2 bands share one row.
_Raster = tuple[str, float, float, int | None, str | None]
_S2_REFLECTANCE: _Raster = ("int16", 0.0001, 0, 32767, "-")
_RASTER: dict[str, _Raster] = {
    "AOT": ("uint16", 0.001, 0, 32767, "-"),
    "WVP": ("uint16", 0.001, 0, 32767, "-"),
    "RAA": ("uint16", 0.01, 0, 65535, "deg"),
    "SZA": ("int16", 0.01, 0, 32767, "deg"),
    "VZA": ("int16", 0.01, 0, 32767, "deg"),
    "SCL": ("uint8", 1, 0, None, None),
    "CLOUDMASK": ("uint8", 1, 0, 255, None),
    "NDVI": ("uint8", 0.004, -0.08, 255, None),
    "VV": ("float32", 1, 0, None, None),
    "VH": ("float32", 1, 0, None, None),
    "angle": ("float32", 1, 0, None, "deg"),
    "QUICKLOOK": ("uint8", 1, 0, 255, None),
}

_DESCRIPTIONS = {
    "AOT": "Aerosol Optical Thickness",
    "RAA": "Relative Azimuth Angle",
    "SZA": "Sun Zenith Angle",
    "VZA": "View Zenith Angle",
    "WVP": "Column Water Vapor",
    "SCL": "Scene classification generated by Sen2Cor",
    "NDVI": "Normalized Difference Vegetation Index",
    "VV": "Backscatter coefficient sigma0, VV polarisation",
    "VH": "Backscatter coefficient sigma0, VH polarisation",
    "angle": "Incidence angle",
    "metadata": "INSPIRE metadata",
}


def _description(key: str, stored_title: str | None) -> str | None:
    """Terrascope's asset descriptions ('S2-MSI Band04, 10M resolution, ...'), where it has one."""
    resolution = _RESOLUTION.search(str(stored_title or ""))
    at = f" at native {resolution.group(1)}M resolution" if resolution else ""
    if key in _S2_BANDS:
        nanometres = round(_S2_BANDS[key][1] * 1000)
        size = f"{resolution.group(1)}M" if resolution else "native"
        return (
            f"S2-MSI Band{key[1:]}, {size} resolution, Top Of Canopy Reflectance at {nanometres}nm"
        )
    if key in ("AOT", "RAA", "SZA", "VZA", "WVP", "NDVI"):
        return _DESCRIPTIONS[key] + at
    return _DESCRIPTIONS.get(key)


def _raster(key: str) -> dict[str, Any]:
    row = _S2_REFLECTANCE if key in _S2_BANDS else _RASTER.get(key)
    if row is None:
        return {}
    data_type, scale, offset, nodata, unit = row
    fields = {
        "data_type": data_type,
        "raster:scale": scale,
        "raster:offset": offset,
        "raster:sampling": "area",
        "nodata": nodata,
        "unit": unit,
    }
    return {k: v for k, v in fields.items() if v is not None}


@functools.lru_cache(maxsize=16)
def _transformer(code: str) -> Any:
    import pyproj  # a dependency of geopandas; only the STAC face needs it here

    return pyproj.Transformer.from_crs("EPSG:4326", code, always_xy=True)


def _proj_bbox(geometry: dict[str, Any] | None, code: str | None) -> list[int] | None:
    """The footprint's bounds in the product's own CRS, on the 10 m pixel grid.

    The demo's Sentinel-2 footprints are the MGRS tiles' corners, so this is the tile's extent
    (Terrascope's ``proj:bbox``); assets' ``proj:shape``/``proj:transform`` follow from it.
    """
    if not geometry or not code or not str(code).upper().startswith("EPSG:"):
        return None
    import pyproj

    try:
        transformer = _transformer(str(code).upper())
    except pyproj.exceptions.CRSError:
        return None
    coordinates = shapely.get_coordinates(shapely.geometry.shape(geometry))
    xs, ys = transformer.transform(coordinates[:, 0], coordinates[:, 1])
    return [int(round(v / 10) * 10) for v in (min(xs), min(ys), max(xs), max(ys))]


def _asset_key(kind: str, link: dict[str, Any]) -> str:
    """The asset key of a stored file: its band name, as Terrascope keys its assets."""
    if kind == "alternates":
        return "metadata"
    if kind == "previews":
        return str(link.get("category") or "QUICKLOOK").upper()
    title = str(link.get("title") or PurePosixPath(str(link.get("href", ""))).stem)
    name = _RESOLUTION.sub("", title).rsplit("-", 1)[-1]
    return _KEY_OF_TITLE.get(name.upper(), name)


def _roles(kind: str, key: str, link: dict[str, Any]) -> list[str]:
    if kind == "previews":
        return ["thumbnail"]
    if kind == "alternates":
        return ["metadata"]
    category = str(link.get("category") or "").upper()
    if category == "CLOUD":
        return ["data-mask", "cloud"]
    if key == "SCL":
        return ["data-mask"]
    return ["data"]


def _asset(
    kind: str,
    key: str,
    link: dict[str, Any],
    served: dict[str, Any],
    local: dict[str, Any],
    product: dict[str, Any],
) -> dict[str, Any]:
    """One file as an asset; ``product`` holds what the files share (updated, grid, protected)."""
    asset: dict[str, Any] = {"href": served["href"], "type": link.get("type"), "title": key}
    stored_title = link.get("title")
    asset["description"] = _description(key, stored_title)
    asset["roles"] = _roles(kind, key, link)
    if link.get("length") is not None:
        asset["file:size"] = int(link["length"])
    asset["updated"] = product.get("updated")
    if "tiff" in str(link.get("type", "")):
        asset.update(_raster(key))
    band = _S2_BANDS.get(key)
    if band is not None:
        common_name, centre, width = band
        asset["bands"] = [
            {
                "name": key,
                "eo:common_name": common_name,
                "eo:center_wavelength": centre,
                "eo:full_width_half_max": width,
            }
        ]
    elif asset["roles"] == ["data"] or key == "SCL":
        asset["bands"] = [{"name": key}]
    resolution = _RESOLUTION.search(str(stored_title or ""))
    gsd = int(resolution.group(1)) if resolution else product.get("gsd")
    grid = product.get("proj:bbox")
    if gsd and grid and kind in ("data", "related"):
        west, south, east, north = grid
        asset["proj:shape"] = [round((north - south) / gsd), round((east - west) / gsd)]
        asset["proj:transform"] = [gsd, 0, west, 0, -gsd, north, 0, 0, 1]
    if resolution and gsd != product.get("gsd"):
        asset["gsd"] = gsd  # as Terrascope: only where it differs from the item's
    if str(local.get("href", "")).startswith("file:"):
        asset["alternate"] = {"local": {"href": local["href"]}}
    if product.get("protected"):
        asset["auth:refs"] = [AUTH_SCHEME]
    return {k: v for k, v in asset.items() if v is not None}


FileEntry = tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]
"""``(kind, stored link, served link, local link)``: one file of a product, the link as the
OpenSearch product lists it under ``kind``, the link to serve as the asset's ``href`` and the one
whose ``file:`` href becomes ``alternate.local`` (the same link twice on the client side)."""


def item_assets(files: Iterable[FileEntry], product: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every file of a product as an asset keyed by band name; keys unique, in file order.

    ``product`` holds what the files share: the item's properties (updated, gsd, proj:bbox) and
    ``protected`` (assets then carry ``auth:refs``)."""
    assets: dict[str, dict[str, Any]] = {}
    for kind, link, served, local in files:
        key = _asset_key(kind, link)
        unique, n = key, 2
        while unique in assets:
            unique, n = f"{key}_{n}", n + 1
        assets[unique] = _asset(kind, unique, link, served, local, product)
    return assets


def extensions(properties: dict[str, Any], assets: dict[str, dict[str, Any]]) -> list[str]:
    """The extensions whose fields the item has, in Terrascope's order (a schema per prefix)."""
    used = set()
    for key in properties:
        used.add(key.split(":", 1)[0])
    for asset in assets.values():
        used.update(key.split(":", 1)[0] for key in asset)
        for band in asset.get("bands") or []:
            used.update(key.split(":", 1)[0] for key in band)
    return [url for prefix, url in EXTENSIONS.items() if prefix in used]
