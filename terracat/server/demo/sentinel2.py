"""Sentinel-2 L2A TOC reflectance and NDVI of the demo store, on the real MGRS tiles over Belgium.

Each relative orbit (R008, R051, R094) is flown by Sentinel-2A and 2B, each every 10 days, 5 days
apart, at about 10:40, 10:50 and 11:00 UTC; the tiles on a swath edge are only partly covered,
which shows in their footprints and ``missingDataPercentage``. Cloud cover is bimodal and cloudier
in winter, as in Belgium. TOC and NDVI products of one tile and datatake share its acquisition.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

from terracat.server.demo.features import (
    _FIRST_DAY,
    _LAST_DAY,
    _MB,
    _SEED_S2,
    _feature,
    _file,
    _iso,
    _length,
    _metadata,
    _preview,
    _published,
    _size_factor,
)

TOC_COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI_COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"


# ---- Sentinel-2 geometry -----------------------------------------------------------------------

# The MGRS tiles (109.8 km squares in UTM zone 31N, EPSG:32631) as lon/lat corners in
# Terrascope's ring order: upper left, lower left, lower right, upper right. Computed once with
# pyproj 3.7 from the UTM squares x0..x0+109800, y0-109800..y0, where x0 is the western edge of
# the 100 km column (D=400000 .. G=700000) and y0 the northern edge of the 100 km row
# (R=5600000, S=5700000, T=5800000); 31UFS matches Terrascope's own footprint to the 7th
# decimal, 31UES to 3e-4 degrees.
# fmt: off
_TILE_CORNERS: dict[str, tuple[tuple[float, float], ...]] = {
    "31UDS": ((1.5611232, 51.4423523), (1.5912849, 50.4552722), (3.1380761, 50.4637165), (3.1410336, 51.4510974)),
    "31UES": ((3.0000000, 51.4511822), (3.0000000, 50.4637984), (4.5467181, 50.4535195), (4.5798317, 51.4405373)),
    "31UFS": ((4.4388768, 51.4423523), (4.4087151, 50.4552722), (5.9538697, 50.4262937), (6.0170250, 51.4123427)),
    "31UGS": ((5.8762918, 51.4158836), (5.8160726, 50.4297130), (7.3581829, 50.3821012), (7.4511626, 51.3665802)),
    "31UDR": ((1.5886612, 50.5433796), (1.6173258, 49.5561348), (3.1355227, 49.5643159), (3.1383333, 50.5518502)),
    "31UER": ((3.0000000, 50.5519324), (3.0000000, 49.5643952), (4.5181284, 49.5544368), (4.5495985, 50.5416215)),
    "31UFR": ((4.4113388, 50.5433796), (4.3826742, 49.5561348), (5.8993384, 49.5280590), (5.9593636, 50.5143108)),
    "31UET": ((3.0000000, 52.3502933), (3.0000000, 51.3630619), (4.5767996, 51.3524503), (4.6116713, 52.3393011)),
    "31UFT": ((4.4678782, 52.3411753), (4.4361150, 51.3542596), (6.0112424, 51.3243438), (6.0777455, 52.3101874)),
}
# fmt: on

# Which relative orbit covers which tile, and how much of it. The R051 swath (294.9 km wide,
# 15.4 degrees off UTM north) was fitted to the swath edges in Terrascope's footprints of
# S2B_20180814T105019_31UDS_TOC_V200 and S2A_20171102T105211_31UFS_FAPAR_10M_V210; R008 and
# R094 are the same ground track shifted by 360/143 degrees of longitude east and west. Each
# tile square was clipped to each swath in UTM with shapely, once; a tile is listed when more
# than 5 % of it is covered. ``None`` is a fully covered tile (its corners above); otherwise
# the missing percentage and the clipped ring (counter-clockwise, open).
# fmt: off
_S2_COVERAGE: dict[tuple[str, int], tuple[int, tuple[tuple[float, float], ...]] | None] = {
    ("31UDS", 51): (12, ((3.1410336, 51.4510974), (1.9635533, 51.4466011), (1.5891533, 50.5268875), (1.5912849, 50.4552722), (3.1380761, 50.4637165))),
    ("31UDS", 94): None,
    ("31UES", 8): (82, ((4.5798317, 51.4405373), (4.4790628, 51.4418521), (4.2815028, 50.9610393), (4.0795023, 50.4587919), (4.5467181, 50.4535195))),
    ("31UES", 51): None,
    ("31UES", 94): (61, ((3.0000000, 50.4637984), (3.3674491, 50.4632184), (3.5952995, 50.9172393), (3.8679360, 51.4479697), (3.0000000, 51.4511822))),
    ("31UFS", 8): None,
    ("31UFS", 51): (1, ((4.4087151, 50.4552722), (5.8676815, 50.4284515), (5.9664191, 50.6267046), (6.0170250, 51.4123427), (4.4388768, 51.4423523))),
    ("31UGS", 8): None,
    ("31UGS", 51): (83, ((5.8160726, 50.4297130), (5.8676815, 50.4284515), (6.3620183, 51.4029450), (5.8762918, 51.4158836))),
    ("31UDR", 51): None,
    ("31UDR", 94): (3, ((1.6173258, 49.5561348), (2.9302032, 49.5643742), (3.1367250, 49.9935097), (3.1383333, 50.5518502), (1.5886612, 50.5433796))),
    ("31UER", 8): (60, ((4.5495985, 50.5416215), (4.1145042, 50.5465992), (3.9337422, 50.0895788), (3.7293552, 49.5620969), (4.5181284, 49.5544368))),
    ("31UER", 51): None,
    ("31UER", 94): (89, ((3.0000000, 50.5519324), (3.0000000, 49.7103374), (3.2111858, 50.1462085), (3.4112287, 50.5512063))),
    ("31UFR", 8): None,
    ("31UFR", 51): (17, ((4.3826742, 49.5561348), (5.4354837, 49.5387595), (5.9109390, 50.5155326), (4.4113388, 50.5433796))),
    ("31UET", 51): None,
    ("31UET", 94): (32, ((3.0000000, 51.3630619), (3.8223558, 51.3601759), (4.0830848, 51.8573943), (4.3437697, 52.3426522), (3.0000000, 52.3502933))),
    ("31UFT", 8): (12, ((6.0777455, 52.3101874), (4.8578327, 52.3356860), (4.6422459, 51.8313903), (4.4427254, 51.3541784), (6.0112424, 51.3243438))),
    ("31UFT", 51): None,
}
# fmt: on

# Real passes of R051 (Terrascope's S2A_20171102T105211_31UES_FAPAR_10M_V200 and
# S2B_20180814T105019_31UDS_TOC_V200): date and absolute orbit. Both satellites make 143 orbits
# in 10 days; the neighbouring track R051 - 43 (R008) is flown 3 days and 604 s earlier, R051 +
# 43 (R094) 3 days and 604 s later, 43 absolute orbits apart.
_S2_ANCHORS = {"S2A": (dt.date(2017, 11, 2), 12346), "S2B": (dt.date(2018, 8, 14), 7513)}
_S2_ORBITS = (8, 51, 94)
_S2_NEIGHBOUR_SECONDS = 604
# Terrascope titles carry the datatake start, which for R051 over Belgium falls between
# 10:46:19 and 10:52:11 depending on how the datatake was cut.
_S2_R051_EARLIEST = 10 * 3600 + 46 * 60 + 19
_S2_R051_SPREAD = 352


def _footprints() -> dict[tuple[str, int], tuple[tuple[tuple[float, float], ...], list[float]]]:
    footprints = {}
    for (tile, orbit), coverage in _S2_COVERAGE.items():
        ring = _TILE_CORNERS[tile] if coverage is None else coverage[1]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        footprints[(tile, orbit)] = (ring, [min(lons), min(lats), max(lons), max(lats)])
    return footprints


_S2_FOOTPRINTS = _footprints()


# ---- files: (title, category, realistic size range in bytes) ----------------------------------

_TOC_DATA = (
    ("TOC-B01_60M", 2.5 * _MB, 4.6 * _MB),
    *((f"TOC-{b}_10M", 60 * _MB, 160 * _MB) for b in ("B02", "B03", "B04")),
    *((f"TOC-{b}_20M", 20 * _MB, 45 * _MB) for b in ("B05", "B06", "B07")),
    ("TOC-B08_10M", 60 * _MB, 160 * _MB),
    *((f"TOC-{b}_20M", 20 * _MB, 45 * _MB) for b in ("B8A", "B11", "B12")),
)
_TOC_RELATED = (
    ("AOT_60M", "QUALITY", 0.07 * _MB, 0.10 * _MB),
    ("CLOUDMASK_20M", "CLOUD", 0.8 * _MB, 2.5 * _MB),
    ("RAA_60M", "QUALITY", 0.9 * _MB, 2.8 * _MB),
    ("SCENECLASSIFICATION_20M", "QUALITY", 3.5 * _MB, 4.6 * _MB),
    ("SZA_60M", "QUALITY", 0.10 * _MB, 0.12 * _MB),
    ("VZA_60M", "QUALITY", 0.24 * _MB, 0.32 * _MB),
    ("WVP_60M", "QUALITY", 1.7 * _MB, 3.4 * _MB),
)


@dataclass(frozen=True, slots=True)
class _S2Acquisition:
    """One tile of one Sentinel-2 datatake: what TOC and NDVI products of it share."""

    platform: str
    start: dt.datetime
    relative_orbit: int
    orbit_number: int
    tile: str
    missing: int
    cloud_cover: float
    # the strings its products are made of, formatted once for both collections
    prefix: str  # S2B_20220203T105149_31UES
    day: str  # 2022/02/03
    begin: str  # 2022-02-03T10:51:49Z


# ---- Sentinel-2 acquisitions ------------------------------------------------------------------


def _s2_acquisitions() -> list[_S2Acquisition]:
    """Every tile of every datatake from 2020 to 2022, with its weather, in time order."""
    rng = random.Random(_SEED_S2)
    tiles_of: dict[int, list[tuple[str, int]]] = {orbit: [] for orbit in _S2_ORBITS}
    for (tile, orbit), coverage in _S2_COVERAGE.items():
        tiles_of[orbit].append((tile, 0 if coverage is None else coverage[0]))
    datatakes = []
    for platform, (anchor, anchor_orbit) in _S2_ANCHORS.items():
        for orbit in _S2_ORBITS:
            neighbour = (orbit - 51) // 43  # -1 for R008, 0 for R051, +1 for R094
            first = anchor + dt.timedelta(days=3 * neighbour)
            cycle = -((first - _FIRST_DAY).days // 10)  # the first 10-day repeat in the period
            day = first + dt.timedelta(days=10 * cycle)
            number = anchor_orbit + 43 * neighbour + 143 * cycle
            while day <= _LAST_DAY:
                datatakes.append((day, orbit, neighbour, platform, number))
                day += dt.timedelta(days=10)
                number += 143
    datatakes.sort()
    acquisitions = []
    for day, orbit, neighbour, platform, number in datatakes:
        seconds = (
            _S2_R051_EARLIEST + rng.randrange(_S2_R051_SPREAD) + neighbour * _S2_NEIGHBOUR_SECONDS
        )
        start = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        stamp, day_path, begin = start.strftime("%Y%m%dT%H%M%S"), f"{day:%Y/%m/%d}", _iso(start)
        weather = _cloudiness(rng, day)
        for tile, missing in tiles_of[orbit]:
            # tiles of one datatake mostly share its weather; some see a different sky
            if rng.random() < 0.7:
                cover = min(100.0, max(0.0, weather + rng.gauss(0.0, 8.0)))
            else:
                cover = _cloudiness(rng, day)
            acquisitions.append(
                _S2Acquisition(
                    platform,
                    start,
                    orbit,
                    number,
                    tile,
                    missing,
                    round(cover, 3),
                    f"{platform}_{stamp}_{tile}",
                    day_path,
                    begin,
                )
            )
    return acquisitions


def _cloudiness(rng: random.Random, day: dt.date) -> float:
    """Percent cloud cover over Belgium: mostly all or nothing, cloudier in winter."""
    winter = math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)  # 1 mid-January
    return 100.0 * rng.betavariate(0.45 + 0.15 * winter, 0.45 - 0.12 * winter)


# ---- products ----------------------------------------------------------------------------------


def _toc_product(a: _S2Acquisition, rng: random.Random, scale: float) -> dict[str, Any]:
    prefix = a.prefix
    title = f"{prefix}_TOC_V210"
    folder = f"/download/Sentinel2/TOC_V2/{a.day}/{title}/"
    size = _size_factor(rng, a.missing)
    data = [
        _file(folder + f"{prefix}_{band}_V210.tif", _length(rng, lo, hi, size, scale), band, None)
        for band, lo, hi in _TOC_DATA
    ]
    related = [
        _file(folder + f"{prefix}_{name}_V210.tif", _length(rng, lo, hi, size, scale), name, kind)
        for name, kind, lo, hi in _TOC_RELATED
    ]
    quicklook = _length(rng, 0.2 * _MB, 0.8 * _MB, size, scale)
    links = {
        "data": data,
        "related": related,
        "previews": [
            _preview(folder + f"{prefix}_TOC_QUICKLOOK_V210.tif", quicklook, "image/tiff")
        ],
        "alternates": [_metadata(folder + f"{title}.xml", _length(rng, 38e3, 41e3, 1.0, scale))],
    }
    return _s2_feature(TOC_COLLECTION, title, a, "TOC", rng, links)


def _ndvi_product(a: _S2Acquisition, rng: random.Random, scale: float) -> dict[str, Any]:
    prefix = a.prefix
    title = f"{prefix}_NDVI_10M_V210"
    folder = f"/download/Sentinel2/NDVI_V2/{a.day}/{title}/"
    size = _size_factor(rng, a.missing)
    links = {
        "data": [
            _file(
                folder + f"{title}.tif",
                _length(rng, 80 * _MB, 150 * _MB, size, scale),
                "NDVI_10M",
                None,
            )
        ],
        "related": [
            _file(
                folder + f"{prefix}_SCENECLASSIFICATION_20M_V210.tif",
                _length(rng, 3.5 * _MB, 4.6 * _MB, size, scale),
                "SCENECLASSIFICATION_20M",
                "QUALITY",
            )
        ],
        "previews": [
            _preview(
                folder + f"{prefix}_NDVI_QUICKLOOK_V210.tif",
                _length(rng, 0.1 * _MB, 0.3 * _MB, size, scale),
                "image/tiff",
            )
        ],
        "alternates": [_metadata(folder + f"{title}.xml", _length(rng, 30e3, 34e3, 1.0, scale))],
    }
    return _s2_feature(NDVI_COLLECTION, title, a, "NDVI", rng, links)


def _s2_feature(
    collection: str,
    title: str,
    a: _S2Acquisition,
    product_type: str,
    rng: random.Random,
    links: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    begin = a.begin
    ring, bbox = _S2_FOOTPRINTS[(a.tile, a.relative_orbit)]
    return _feature(
        collection,
        title,
        ring,
        bbox,
        begin,
        _published(rng, a.start),
        platform={"platformShortName": "SENTINEL-2", "platformSerialIdentifier": a.platform},
        instrument={"instrumentShortName": "MSI", "sensorType": "OPTICAL"},
        parameters={
            "acquisitionType": "NOMINAL",
            # Terrascope dates a tile by its datatake's start: begin and end are the same
            "beginningDateTime": begin,
            "endingDateTime": begin,
            "tileId": a.tile,
            "orbitDirection": "DESCENDING",
            "relativeOrbitNumber": a.relative_orbit,
            "orbitNumber": a.orbit_number,
        },
        information={
            "productType": product_type,
            "productVersion": "V210",
            "cloudCover": a.cloud_cover,
            "productGroupId": a.prefix[:19],  # S2B_20220203T105149: the datatake
            "referenceSystemIdentifier": "EPSG:32631",
        },
        additional={"missingDataPercentage": a.missing, "resolution": 10},
        links=links,
    )
