"""Sentinel-1 GRD sigma0 frames of the demo store, on the real tracks over Belgium.

Frames of 25 s (about 250 x 170 km) on relative orbits 37 and 110 (descending, about 05:50 and
05:59 UTC) and 88 and 161 (ascending, about 17:24 and 17:32 UTC), flown by Sentinel-1A every 12
days and by Sentinel-1B, 6 days apart, until its failure on 2021-12-23.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from terracat.server.demo.features import (
    _BELGIUM,
    _FIRST_DAY,
    _LAST_DAY,
    _MB,
    _SEED_S1,
    _feature,
    _file,
    _iso,
    _length,
    _metadata,
    _preview,
    _published,
)

SIGMA0_COLLECTION = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
_S1B_LAST_DAY = dt.date(2021, 12, 23)  # Sentinel-1B's power failure ended its mission


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


# ---- files: (title, realistic size range in bytes) --------------------------------------------

_S1_DATA = (
    ("VV", 1200 * _MB, 1700 * _MB),
    ("VH", 1200 * _MB, 1700 * _MB),
    ("angle", 60 * _MB, 110 * _MB),
)


# ---- products --------------------------------------------------------------------------------


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
