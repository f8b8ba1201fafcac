"""The demo store: three Terrascope collections over Belgium, generated deterministically.

The tests, the benchmarks and the offline demo all need a catalogue that behaves like the real
one without the network. Recorded answers would be small and frozen; this module instead builds
a few thousand products per collection whose every feature has the shape of a real Terrascope
answer (``fixtures/real/``), and whose content follows the real acquisition geometry, so that
filters, paging and downloads meet the same distributions a user meets:

- Sentinel-2 L2A TOC reflectance and NDVI on the real MGRS tiles over Belgium. Each relative
  orbit (R008, R051, R094) is flown by Sentinel-2A and 2B, each every 10 days, 5 days apart, at
  about 10:40, 10:50 and 11:00 UTC; the tiles on a swath edge are only partly covered, which
  shows in their footprints and ``missingDataPercentage``. Cloud cover is bimodal and cloudier
  in winter, as in Belgium.
- Sentinel-1 GRD sigma0 frames of 25 s (about 250 x 170 km) on relative orbits 37 and 110
  (descending, about 05:50 and 05:59 UTC) and 88 and 161 (ascending, about 17:24 and 17:32 UTC),
  flown by Sentinel-1A every 12 days and by Sentinel-1B, 6 days apart, until its failure on
  2021-12-23.

Absolute orbit numbers, overpass times and footprints are anchored on real Terrascope products
(cited where the constants are). Randomness (cloud cover, file sizes, publication delays) comes
from ``random.Random`` generators with fixed seeds, one per collection, so the same arguments
give the same store on any machine. ``size_scale`` shrinks the realistic file sizes (gigabytes
per product) to what a test can afford to download; the server serves exactly ``length`` bytes.

Building the store takes a fraction of a second (with the cyclic garbage collector paused, as
nothing it builds is garbage) and is otherwise free of side effects: callers that need it more
than once may cache it, but should copy before changing it.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from terracat.exceptions import ConfigurationException
from terracat.server.store import CollectionEntry

__all__ = [
    "DEFAULT_SIZE_SCALE",
    "NDVI_COLLECTION",
    "SIGMA0_COLLECTION",
    "TOC_COLLECTION",
    "build_demo_collections",
]

DEFAULT_SIZE_SCALE = 1e-4
"""Factor from realistic file sizes to served ones: a 120 MB band becomes 12 kB."""

TOC_COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI_COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
SIGMA0_COLLECTION = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"

_FIRST_DAY = dt.date(2020, 1, 1)
_LAST_DAY = dt.date(2022, 12, 31)
_S1B_LAST_DAY = dt.date(2021, 12, 23)  # Sentinel-1B's power failure ended its mission
_CATALOGUE_UPDATED = dt.datetime(2023, 3, 31, 8, 0, 0)
"""The store's "now": no product is updated later, and the collections say so."""

_SEED_S2, _SEED_TOC, _SEED_NDVI, _SEED_S1 = 2020_0208, 2020_1002, 2020_1004, 2020_0101
_BELGIUM = (2.5, 49.5, 6.4, 51.5)  # west, south, east, north: the area the demo covers
_UTM31 = "http://www.opengis.net/def/crs/EPSG/0/32631"

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

# ---- Sentinel-1 geometry -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Track:
    """A Sentinel-1 relative orbit over Belgium, as a frame sliding along it.

    ``west``/``east`` are the corners of the edge a frame starts with (its northern edge going
    down, its southern edge going up) at ``seconds`` after midnight UTC, and ``west_step``/
    ``east_step`` how far those corners move in one 25 s frame.
    """

    relative_orbit: int
    direction: str
    seconds: float
    west: tuple[float, float]
    east: tuple[float, float]
    west_step: tuple[float, float]
    east_step: tuple[float, float]
    anchors: dict[str, tuple[dt.date, int]]  # platform -> a pass's date and absolute orbit


def _shifted(
    track: _Track,
    orbit: int,
    degrees: float,
    seconds: float,
    anchors: dict[str, tuple[dt.date, int]],
) -> _Track:
    """The neighbouring track: 73 orbits on, 5 days later, ``degrees`` west, ``seconds`` later."""
    return _Track(
        orbit,
        track.direction,
        track.seconds + seconds,
        (track.west[0] - degrees, track.west[1]),
        (track.east[0] - degrees, track.east[1]),
        track.west_step,
        track.east_step,
        anchors,
    )


# Frames read from Terrascope's S1A_IW_GRDH_SIGMA0_DV_20220913T055910_DESCENDING_110_4192_V110
# and S1A_IW_GRDH_SIGMA0_DV_20190307T172435_ASCENDING_88_B705_V110 (their real orbit numbers:
# 44982 for the first; S1B's 23659 on 2020-10-04 anchors its numbering). Sentinel-1 makes 175
# orbits in 12 days; the track 73 orbits on (R110 from R37, R161 from R88) is flown 5 days and
# 493.7 s later, 360/175 degrees further west.
_S1_NEIGHBOUR_DEGREES = 360 / 175
_S1_NEIGHBOUR_SECONDS = 493.7
_R110 = _Track(
    110,
    "DESCENDING",
    5 * 3600 + 59 * 60 + 10.622,
    (1.740583, 51.413986),
    (5.470935, 51.0028),
    (1.377835 - 1.740583, 49.9184 - 51.413986),
    (4.992859 - 5.470935, 49.50906 - 51.0028),
    {"S1A": (dt.date(2022, 9, 13), 44982), "S1B": (dt.date(2018, 5, 7), 10811)},
)
_R037 = _shifted(
    _R110,
    37,
    -_S1_NEIGHBOUR_DEGREES,
    -_S1_NEIGHBOUR_SECONDS,
    {"S1A": (dt.date(2022, 9, 8), 44909), "S1B": (dt.date(2018, 5, 2), 10738)},
)
_R088 = _Track(
    88,
    "ASCENDING",
    17 * 3600 + 24 * 60 + 35.0,
    (4.449606, 49.906914),
    (8.033141, 50.310795),
    (3.95955 - 4.449606, 51.399448 - 49.906914),
    (7.659013 - 8.033141, 51.805588 - 50.310795),
    {"S1A": (dt.date(2019, 8, 22), 28685), "S1B": (dt.date(2019, 8, 16), 17614)},
)
_R161 = _shifted(
    _R088,
    161,
    _S1_NEIGHBOUR_DEGREES,
    _S1_NEIGHBOUR_SECONDS,
    {"S1A": (dt.date(2019, 8, 27), 28758), "S1B": (dt.date(2019, 8, 21), 17687)},
)
_S1_TRACKS = (_R037, _R110, _R088, _R161)
_S1_FRAME_SECONDS = 25.0

# ---- files: (title, category, realistic size range in bytes) ----------------------------------

_MB = 1_000_000
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
_S1_DATA = (
    ("VV", 1200 * _MB, 1700 * _MB),
    ("VH", 1200 * _MB, 1700 * _MB),
    ("angle", 60 * _MB, 110 * _MB),
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


def build_demo_collections(size_scale: float = DEFAULT_SIZE_SCALE) -> list[CollectionEntry]:
    """The demo store: Sentinel-2 TOC (protected) and NDVI, and Sentinel-1 sigma0 over Belgium.

    Parameters
    ----------
    size_scale :
        factor applied to the realistic file sizes; each file's ``length`` is
        ``max(1, round(size * size_scale))`` bytes

    Returns
    -------
    list of CollectionEntry
        TOC, NDVI and sigma0, each with its products sorted by (beginningDateTime, id); the
        same for the same ``size_scale``, on any machine

    Examples
    --------
    >>> toc, ndvi, sigma0 = build_demo_collections()
    >>> toc.protected, len(toc.products) == len(ndvi.products)
    (True, True)
    """
    if not (isinstance(size_scale, int | float) and 0 < size_scale < math.inf):
        raise ConfigurationException(
            f"size_scale must be a positive number, not {size_scale!r}: it multiplies the real "
            f"file sizes ({DEFAULT_SIZE_SCALE:g} serves a 120 MB band as 12 kB)"
        )
    # A hundred thousand small dicts that all stay alive: the cyclic garbage collector would
    # walk them again and again while they are built (half the time), and find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        acquisitions = _s2_acquisitions()
        rng = random.Random(_SEED_TOC)
        toc = _sorted(_toc_product(a, rng, size_scale) for a in acquisitions)
        rng = random.Random(_SEED_NDVI)
        ndvi = _sorted(_ndvi_product(a, rng, size_scale) for a in acquisitions)
        sigma0 = _sorted(_s1_products(size_scale))
    finally:
        if collecting:
            gc.enable()
    return [
        CollectionEntry(_collection(TOC_COLLECTION, toc), toc, protected=True),
        CollectionEntry(_collection(NDVI_COLLECTION, ndvi), ndvi, protected=False),
        CollectionEntry(_collection(SIGMA0_COLLECTION, sigma0), sigma0, protected=False),
    ]


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


def _s1_products(scale: float) -> Iterator[dict[str, Any]]:
    """The sigma0 frames of every Sentinel-1 pass over Belgium from 2020 to 2022."""
    rng = random.Random(_SEED_S1)
    passes = []
    for track in _S1_TRACKS:
        for platform, (anchor, anchor_orbit) in track.anchors.items():
            last = _S1B_LAST_DAY if platform == "S1B" else _LAST_DAY
            cycle = -((anchor - _FIRST_DAY).days // 12)
            day = anchor + dt.timedelta(days=12 * cycle)
            number = anchor_orbit + 175 * cycle
            while day <= last:
                passes.append((day, track.seconds, platform, number, track))
                day += dt.timedelta(days=12)
                number += 175
    passes.sort(key=lambda p: p[:4])
    for day, _, platform, number, track in passes:
        # where the datatake's frames are cut varies from pass to pass
        phase = rng.random()
        datatake = f"{platform}_{_datatake_id(platform, number):06X}"
        midnight = dt.datetime.combine(day, dt.time())
        for frame in range(-3, 4):
            position = frame + phase
            ring = _s1_ring(track, position)
            lons, lats = [p[0] for p in ring], [p[1] for p in ring]
            bbox = [min(lons), min(lats), max(lons), max(lats)]
            if not _covers_part_of(ring, bbox, _BELGIUM):
                continue
            seconds = round(track.seconds + position * _S1_FRAME_SECONDS)
            start = midnight + dt.timedelta(seconds=seconds)
            yield _s1_product(platform, track, number, start, ring, bbox, datatake, rng, scale)


def _s1_product(
    platform: str,
    track: _Track,
    number: int,
    start: dt.datetime,
    ring: list[tuple[float, float]],
    bbox: list[float],
    datatake: str,
    rng: random.Random,
    scale: float,
) -> dict[str, Any]:
    stamp = f"{start:%Y%m%dT%H%M%S}"
    unique = f"{rng.getrandbits(16):04X}"
    title = (
        f"{platform}_IW_GRDH_SIGMA0_DV_{stamp}_{track.direction}_{track.relative_orbit}"
        f"_{unique}_V110"
    )
    folder = f"/download/CGS_S1/CGS_S1_GRD_SIGMA0_L1/{start:%Y/%m/%d}/{title}/"
    size = 0.8 + 0.2 * rng.random()
    links = {
        "data": [
            _file(folder + f"{title}_{name}.tif", _length(rng, lo, hi, size, scale), name, None)
            for name, lo, hi in _S1_DATA
        ],
        # Terrascope's sigma0 products list no related files
        "related": [],
        "previews": [
            _preview(
                folder + f"{title}_quicklook.png",
                _length(rng, 0.15 * _MB, 0.4 * _MB, size, scale),
                "image/png",
            )
        ],
        "alternates": [_metadata(folder + f"{title}.xml", _length(rng, 38e3, 39e3, 1.0, scale))],
    }
    begin = _iso(start)
    return _feature(
        SIGMA0_COLLECTION,
        title,
        ring,
        [round(v, 6) for v in bbox],
        begin,
        _published(rng, start),
        platform={"platformShortName": "SENTINEL-1", "platformSerialIdentifier": platform},
        instrument={"instrumentShortName": "C-SAR", "sensorType": "RADAR", "sensorMode": "IW"},
        parameters={
            "acquisitionType": "NOMINAL",
            "beginningDateTime": begin,
            "endingDateTime": _iso(start + dt.timedelta(seconds=_S1_FRAME_SECONDS)),
            "orbitDirection": track.direction,
            "relativeOrbitNumber": track.relative_orbit,
            "orbitNumber": number,
            "operationalMode": "IW",
            "polarisationMode": "D",
            "polarisationChannels": "VV, VH",
        },
        information={
            "productType": "SIGMA0",
            "productVersion": "V110",
            "productGroupId": datatake,
            "referenceSystemIdentifier": "EPSG:32631",
        },
        additional={"resolution": 10},
        links=links,
    )


def _s1_ring(track: _Track, position: float) -> list[tuple[float, float]]:
    """The frame ``position`` frames along the track, corners from south-east counter-clockwise."""
    (wx, wy), (ex, ey) = track.west, track.east
    (wdx, wdy), (edx, edy) = track.west_step, track.east_step
    lead_w = (round(wx + position * wdx, 6), round(wy + position * wdy, 6))
    lead_e = (round(ex + position * edx, 6), round(ey + position * edy, 6))
    trail_w = (round(lead_w[0] + wdx, 6), round(lead_w[1] + wdy, 6))
    trail_e = (round(lead_e[0] + edx, 6), round(lead_e[1] + edy, 6))
    if track.direction == "DESCENDING":  # leads with its northern edge
        return [trail_e, lead_e, lead_w, trail_w]
    return [lead_e, trail_e, trail_w, lead_w]


def _datatake_id(platform: str, orbit_number: int) -> int:
    """A plausible mission datatake id, rising with the orbit (S1B's 0x02CF3D at orbit 23659)."""
    return (84 if platform == "S1B" else 1021) + round(orbit_number * 7.78)


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


# ---- collections ------------------------------------------------------------------------------

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


# ---- helpers -----------------------------------------------------------------------------------


def _footprints() -> dict[tuple[str, int], tuple[tuple[tuple[float, float], ...], list[float]]]:
    footprints = {}
    for (tile, orbit), coverage in _S2_COVERAGE.items():
        ring = _TILE_CORNERS[tile] if coverage is None else coverage[1]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        footprints[(tile, orbit)] = (ring, [min(lons), min(lats), max(lons), max(lats)])
    return footprints


_S2_FOOTPRINTS = _footprints()


def _covers_part_of(
    ring: Sequence[tuple[float, float]], bbox: Sequence[float], box: Sequence[float]
) -> bool:
    """Whether a convex counter-clockwise ring (with its ``bbox``) and a box intersect.

    The separating axis test: they are apart when their boxes are, or when the box lies wholly
    outside one edge of the ring.
    """
    west, south, east, north = box
    if bbox[0] > east or bbox[2] < west or bbox[1] > north or bbox[3] < south:
        return False
    corners = ((west, south), (east, south), (east, north), (west, north))
    for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True):
        normal_x, normal_y = y2 - y1, x1 - x2  # outward for a counter-clockwise ring
        limit = normal_x * x1 + normal_y * y1
        if all(normal_x * x + normal_y * y > limit for x, y in corners):
            return False
    return True


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
