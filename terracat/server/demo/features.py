"""What every demo product is made of: the feature in Terrascope's key order, its files, its dates.

The mission modules (:mod:`.sentinel2`, :mod:`.sentinel1`) decide what a product is; this module
gives it the shape of a real Terrascope answer (``fixtures/real/``) and holds what the missions
share: the period the store covers, its "now", the seeds, and the file entries of the links.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from typing import Any

_FIRST_DAY = dt.date(2020, 1, 1)
_LAST_DAY = dt.date(2022, 12, 31)
_CATALOGUE_UPDATED = dt.datetime(2023, 3, 31, 8, 0, 0)
"""The store's "now": no product is updated later, and the collections say so."""

_SEED_S2, _SEED_TOC, _SEED_NDVI, _SEED_S1 = 2020_0208, 2020_1002, 2020_1004, 2020_0101
_BELGIUM = (2.5, 49.5, 6.4, 51.5)  # west, south, east, north: the area the demo covers
_UTM31 = "http://www.opengis.net/def/crs/EPSG/0/32631"

_MB = 1_000_000


def _feature(
    collection: str,
    title: str,
    ring: Sequence[tuple[float, float]],
    bbox: list[float],
    begin: str,
    published: dict[str, str],
    *,
    platform: dict[str, Any],
    instrument: dict[str, Any],
    parameters: dict[str, Any],
    information: dict[str, Any],
    additional: dict[str, Any],
    links: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """A product feature in the key order of Terrascope's answers (``products_s2_fapar.json``)."""
    identifier = f"{collection}:{title}"
    coordinates = [[x, y] for x, y in ring]
    coordinates.append(list(coordinates[0]))
    return {
        "type": "Feature",
        "id": identifier,
        "geometry": {"type": "Polygon", "coordinates": [coordinates]},
        "bbox": list(bbox),
        "properties": {
            "date": begin,
            "creationDate": published["creationDate"],
            "updated": published["updated"],
            "available": published["available"],
            "published": published["published"],
            "status": "ARCHIVED",
            "parentIdentifier": collection,
            "title": title,
            "identifier": identifier,
            "acquisitionInformation": [
                {"platform": platform, "instrument": instrument},
                {"acquisitionParameters": parameters},
            ],
            "additionalAttributes": additional,
            "productInformation": {
                **information,
                "availabilityTime": published["available"],
                "processingCenter": "VITO",
                "processingDate": published["creationDate"],
            },
            "links": links,
        },
    }


def _published(rng: random.Random, start: dt.datetime) -> dict[str, str]:
    """Processing 1 to 3 days after the acquisition; one product in ten is updated later."""
    draw = rng.random
    delay = 86_400 + int(draw() * (2 * 86_400 - 120))  # whole seconds
    processed = start + dt.timedelta(seconds=delay, milliseconds=int(draw() * 1000))
    published = start + dt.timedelta(seconds=delay + 2 + int(draw() * 88))
    # later than published by at least a second, so that even the strings sort that way
    updated = published + dt.timedelta(seconds=1 + 3 * draw())
    if draw() < 0.1:
        updated = min(updated + dt.timedelta(days=20 + 380 * draw()), _CATALOGUE_UPDATED)
    publication = _iso(published)
    return {
        "creationDate": _iso_ms(processed),
        "updated": _iso_ms(updated),
        "available": publication,
        "published": publication,
    }


# ---- files -------------------------------------------------------------------------------------


def _size_factor(rng: random.Random, missing: int) -> float:
    """How big this product's rasters are against a full tile: less data, smaller files."""
    return (0.3 + 0.7 * (1 - missing / 100)) * rng.uniform(0.85, 1.15)


def _length(rng: random.Random, low: float, high: float, factor: float, scale: float) -> int:
    return max(1, round((low + (high - low) * rng.random()) * factor * scale))


def _file(href: str, length: int, title: str, category: str | None) -> dict[str, Any]:
    """A data file (georeferenced, no category) or a related one (with its category)."""
    if category is None:
        return {
            "type": "image/tiff",
            "length": length,
            "title": title,
            "conformsTo": _UTM31,
            "href": href,
        }
    return {
        "type": "image/tiff",
        "length": length,
        "title": title,
        "category": category,
        "href": href,
    }


def _preview(href: str, length: int, media_type: str) -> dict[str, Any]:
    return {
        "type": media_type,
        "length": length,
        "category": "QUICKLOOK",
        "conformsTo": _UTM31,
        "href": href,
    }


def _metadata(href: str, length: int) -> dict[str, Any]:
    return {
        "type": "application/vnd.iso.19139+xml",
        "length": length,
        "title": "Inspire metadata",
        "href": href,
    }


def _sorted(products: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    begin = "beginningDateTime"
    return sorted(
        products,
        key=lambda p: (
            p["properties"]["acquisitionInformation"][1]["acquisitionParameters"][begin],
            p["id"],
        ),
    )


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def _iso_ms(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"
