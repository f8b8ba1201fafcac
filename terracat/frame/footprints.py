"""Product footprints from their GeoJSON texts, as shapely geometries, in bulk.

Footprints are almost always simple polygons. Their coordinates are read by Arrow's JSON reader
and the polygons built by shapely in one vectorised call, several times faster than GEOS's
GeoJSON reader one text at a time; anything else (other geometry types, 3-D coordinates, rings
GEOS would refuse or mend, a malformed text) takes that reader, with invalid texts as nulls.
Each distinct text is parsed once: a search over an area meets the same tile footprints again
and again, and rows with the same footprint share one immutable geometry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from terracat.frame.jsonlines import object_lines, one_chunk, read_json_lines

__all__ = ["footprints"]

_POLYGON = pa.schema(
    [("type", pa.string()), ("coordinates", pa.list_(pa.list_(pa.list_(pa.float64()))))]
)


def footprints(texts: Sequence[bytes]) -> np.ndarray:
    """The geometries of GeoJSON geometry texts (``null`` or invalid ones as ``None``)."""
    positions: dict[bytes, int] = {}
    index = [positions.setdefault(text, len(positions)) for text in texts]
    distinct = list(positions)
    geometries = np.full(len(distinct), None, dtype=object)
    present = [position for position, text in enumerate(distinct) if text != b"null"]
    present_texts = [distinct[position] for position in present]
    built = _polygons(present_texts)
    geometries[present] = (
        shapely.from_geojson(present_texts, on_invalid="ignore") if built is None else built
    )
    return geometries[np.asarray(index, dtype=np.intp)]


def _polygons(texts: list[bytes]) -> np.ndarray | None:
    """The texts' polygons, or None unless every text is a 2-D polygon with well-formed rings."""
    blob = object_lines(texts)
    if blob is None:
        return None
    try:
        table = read_json_lines(blob, _POLYGON)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # another geometry type, or pretty-printed texts: GEOS's reader decides
    kinds, polygons = one_chunk(table["type"]), one_chunk(table["coordinates"])
    if table.num_rows != len(texts) or kinds.null_count or polygons.null_count:
        return None
    if not pc.all(pc.equal(kinds, "Polygon")).as_py():
        return None
    rings = polygons.values
    points = rings.values
    if rings.null_count or points.null_count or points.values.null_count:
        return None
    if not pc.all(pc.equal(pc.list_value_length(points), 2)).as_py():
        return None
    xy = points.values.to_numpy().reshape(-1, 2)
    ring_offsets = np.asarray(rings.offsets)
    starts, ends = ring_offsets[:-1], ring_offsets[1:]
    if (ends - starts < 4).any() or not (xy[starts] == xy[ends - 1]).all():
        return None  # GEOS refuses short rings and closes open ones: its reader decides
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, xy, (ring_offsets, np.asarray(polygons.offsets))
    )
