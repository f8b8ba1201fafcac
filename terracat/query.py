"""User search parameters -> OpenSearch query parameters.

A catalogue understands one spelling per parameter (``bbox=4.1,50.0,5.5,51.0``,
``cloudCover=[10,60]``, ``start=2021-02-20T10:11:12Z``), while users hold dates, pandas
timestamps, shapely geometries, dicts and tuples. This module turns the loose forms the reference
client accepts into those strings, one small ``_format_<param>`` per parameter, and drops
parameters that are ``None``.

It is pure (no I/O, no configuration) so that the paging layer can re-encode split time ranges,
and so that a bad parameter is refused here, naming the parameter, the value and what would be
valid, before anything is sent. Unlike the reference client, a value that is falsy but not
``None`` (``cloudCover=0``, ``relativeOrbitNumber=0``) is encoded or refused, never silently
dropped: 0 is a real value.

>>> product_query("urn:eop:VITO:TERRASCOPE_S2_TOC_V2", start=dt.date(2022, 2, 1),
...               bbox=[4.1, 50.0, 5.5, 51.0], cloudCover=(None, 60))
{'collection': 'urn:eop:VITO:TERRASCOPE_S2_TOC_V2', 'start': '2022-02-01', \
'bbox': '4.1,50.0,5.5,51.0', 'cloudCover': '60]'}
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import shapely
from shapely import wkt
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from terracat.exceptions import ParameterParserException

__all__ = [
    "PRODUCT_FILTERS",
    "check_limit",
    "collection_query",
    "format_datetime",
    "parse_datetime",
    "product_query",
]

PRODUCT_FILTERS = (
    "start",
    "end",
    "bbox",
    "geometry",
    "title",
    "productType",
    "relativeOrbitNumber",
    "orbitDirection",
    "cloudCover",
    "tileId",
    "productGroupId",
    "publicationDate",
    "modificationDate",
    "accessedFrom",
)
"""The named filters of a product search, in the order they are encoded."""

_BBOX_KEYS = ("west", "south", "east", "north")
# The decimal numbers a catalogue parses; float() alone would also let through 'nan', 'inf'
# and '1_0', which no catalogue understands.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE_FORMS = (
    "an ISO 8601 date or date and time str such as '2020-01-01' or '2021-02-20T10:11:12Z', "
    "a datetime.date, a datetime.datetime, a pandas.Timestamp or a numpy.datetime64"
)
_SHOWN_CHARACTERS = 120


# --- errors ---------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A short repr of an offending value: enough to recognise it, never a screenful."""
    try:
        text = repr(value)
    except Exception:  # a user's object may have a broken __repr__; the message must not fail
        text = f"<{type(value).__name__} object>"
    if len(text) > _SHOWN_CHARACTERS:
        text = text[: _SHOWN_CHARACTERS - 3] + "..."
    return text


def _error(parameter: str, value: Any, reason: str) -> ParameterParserException:
    return ParameterParserException(
        f"Failed to parse the value of the '{parameter}' parameter: {_show(value)}. {reason}"
    )


# --- scalars ----------------------------------------------------------------------------------


def _as_number(value: Any) -> int | float | None:
    """A plain Python int or float for a real number, ``None`` for anything else.

    Booleans are refused: ``True`` is an int to Python but never a coordinate or a percentage.
    """
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.float64):
        return float(value)
    if isinstance(value, np.floating):
        # float(np.float32(4.1)) is 4.099999904632568; its shortest repr, '4.1', is the number
        # the user wrote and the one the reference client would have sent.
        return float(str(value))
    return None


def _text(value: str) -> str:
    # str.__str__ gives the characters of any str subclass; str() of a (str, Enum) member would
    # give 'Class.MEMBER' instead of its value.
    return str.__str__(value)


def _format_text(value: Any, parameter: str) -> str:
    if not isinstance(value, str):
        raise _error(parameter, value, f"Expected a str, not {type(value).__name__}.")
    return _text(value)


def _format_collection(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(
            "collection",
            value,
            "Expected a non-empty collection identifier str such as "
            "'urn:eop:VITO:TERRASCOPE_S2_TOC_V2'.",
        )
    return _text(value)


# --- dates ----------------------------------------------------------------------------------


def _to_utc(value: dt.datetime, parameter: str, shown: Any) -> dt.datetime:
    """A plain, aware UTC datetime; naive input is taken to be UTC, as the catalogue does."""
    if value != value:  # pandas.NaT is a datetime that differs from itself
        raise _error(
            parameter, shown, f"A missing time (NaT) is not a time. Expected {_DATE_FORMS}."
        )
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            utc = value.replace(tzinfo=dt.UTC)
        else:
            utc = value.astimezone(dt.UTC)
    except (OverflowError, ValueError) as error:
        raise _error(parameter, shown, f"It cannot be converted to UTC: {error}.") from error
    # Rebuilding drops subclasses (pandas.Timestamp and its nanoseconds) so that callers get
    # one type and pandas never warns about discarded nanoseconds.
    return dt.datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond,
        tzinfo=dt.UTC,
    )  # fmt: skip


def _midnight(value: dt.date) -> dt.datetime:
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def _parse_time(value: Any, parameter: str) -> tuple[dt.datetime, bool]:
    """The instant a value names, in UTC, and whether it was a calendar date."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return _midnight(dt.date.fromisoformat(text)), True
        except ValueError:
            pass
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _error(parameter, value, f"Expected {_DATE_FORMS}.") from None
        return _to_utc(parsed, parameter, value), False
    if isinstance(value, dt.datetime):  # before date: a datetime is a date too
        return _to_utc(value, parameter, value), False
    if isinstance(value, dt.date):
        return _midnight(value), True
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise _error(
                parameter, value, f"A missing time (NaT) is not a time. Expected {_DATE_FORMS}."
            )
        converted = value.astype("datetime64[us]").item()
        if not isinstance(converted, dt.datetime):  # numpy gives an int outside years 1-9999
            raise _error(parameter, value, "It is outside the years 1 to 9999.")
        return _to_utc(converted, parameter, value), False
    raise _error(parameter, value, f"Expected {_DATE_FORMS}, not {type(value).__name__}.")


def parse_datetime(value: Any, parameter: str) -> dt.datetime:
    """Read a time parameter as an aware UTC datetime.

    The paging layer uses this to split a time range; a calendar date is its first instant.

    Parameters
    ----------
    value : str, datetime.date, datetime.datetime, pandas.Timestamp or numpy.datetime64
        the time; a naive datetime (or a str without offset) is taken to be UTC
    parameter : str
        the parameter's name, for the error message

    Returns
    -------
    datetime.datetime
        the instant, with ``tzinfo=datetime.UTC``; a date gives midnight UTC

    Raises
    ------
    ParameterParserException
        when the value is not a time

    Examples
    --------
    >>> parse_datetime("2021-02-20T12:11:12+02:00", "start")
    datetime.datetime(2021, 2, 20, 10, 11, 12, tzinfo=datetime.timezone.utc)
    >>> parse_datetime(dt.date(2020, 1, 1), "end")
    datetime.datetime(2020, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return _parse_time(value, parameter)[0]


def format_datetime(value: dt.datetime) -> str:
    """Write a datetime the way the catalogue reads it: UTC, ``Z``-suffixed.

    Fractional seconds are kept, trimmed of trailing zeros, only when they are not zero, so that
    whole-second times read exactly as the reference client writes them.

    Parameters
    ----------
    value : datetime.datetime
        the time; naive is taken to be UTC, aware is converted to UTC

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``

    Raises
    ------
    TypeError
        when ``value`` is not a datetime
    ParameterParserException
        when it is ``NaT`` or cannot be expressed in UTC

    Examples
    --------
    >>> format_datetime(dt.datetime(2021, 2, 20, 10, 11, 12))
    '2021-02-20T10:11:12Z'
    >>> format_datetime(dt.datetime(2021, 2, 20, 11, 11, 12, 345000,
    ...                             tzinfo=dt.timezone(dt.timedelta(hours=1))))
    '2021-02-20T10:11:12.345Z'
    """
    if not isinstance(value, dt.datetime):
        raise TypeError(f"format_datetime needs a datetime.datetime, not {type(value).__name__}")
    utc = _to_utc(value, "datetime", value)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _write_time(instant: dt.datetime, is_date: bool) -> str:
    if is_date:
        return f"{instant.year:04d}-{instant.month:02d}-{instant.day:02d}"
    return format_datetime(instant)


def _format_time(value: Any, parameter: str) -> str:
    """One instant: a calendar date stays a date, anything with a time of day becomes UTC."""
    if isinstance(value, tuple | list):
        raise _error(
            parameter,
            value,
            f"Expected one time ({_DATE_FORMS}); give a range as start and end.",
        )
    return _write_time(*_parse_time(value, parameter))


def _format_start(value: Any) -> str:
    return _format_time(value, "start")


def _format_end(value: Any) -> str:
    return _format_time(value, "end")


def _check_time_order(start: Any, end: Any) -> None:
    """Refuse ``start`` after ``end``: the catalogue would answer an empty page, not an error."""
    if start is None or end is None:
        return
    if parse_datetime(start, "start") > parse_datetime(end, "end"):
        raise ParameterParserException(
            f"Failed to parse the values of the 'start' and 'end' parameters: start {_show(start)} "
            f"is after end {_show(end)}. The start of a time range must not be after its end."
        )


# --- intervals ------------------------------------------------------------------------------

_Bound = Callable[[Any, str, Any], tuple[Any, str]]


def _format_interval(value: tuple[Any, ...], parameter: str, bound: _Bound) -> str | None:
    """OpenSearch interval syntax: ``[a,b]``, ``[a`` (from a), ``b]`` (up to b).

    ``bound(item, parameter, whole)`` gives one bound's comparable value and its text.
    ``(None, None)`` filters nothing, so the parameter is left out (``None``).
    """
    if len(value) != 2:
        raise _error(
            parameter,
            value,
            f"A tuple of length {len(value)} is not supported. "
            "To use an interval, the tuple should be of length 2.",
        )
    lower, upper = value
    if lower is None and upper is None:
        return None
    if lower is None:
        return f"{bound(upper, parameter, value)[1]}]"
    if upper is None:
        return f"[{bound(lower, parameter, value)[1]}"
    low_key, low_text = bound(lower, parameter, value)
    high_key, high_text = bound(upper, parameter, value)
    if low_key > high_key:
        raise _error(
            parameter, value, "The lower bound of the interval is greater than its upper bound."
        )
    return f"[{low_text},{high_text}]"


def _cloud_cover_bound(value: Any, parameter: str, whole: Any) -> tuple[float, str]:
    number = _as_number(value)
    if number is None or (isinstance(number, float) and math.isnan(number)):
        raise _error(parameter, whole, f"{_show(value)} is not a percentage from 0 to 100.")
    if not 0 <= number <= 100:
        raise _error(parameter, whole, f"{_show(value)} is outside the range 0 to 100.")
    return number, str(number)


def _format_cloud_cover(value: Any) -> str | None:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, tuple):
        return _format_interval(value, "cloudCover", _cloud_cover_bound)
    if isinstance(value, list):
        raise _error(
            "cloudCover",
            value,
            "Use a tuple (lower, upper) for an interval, a number for an upper bound, "
            "or a str in the catalogue's syntax.",
        )
    return f"{_cloud_cover_bound(value, 'cloudCover', value)[1]}]"


def _date_bound(value: Any, parameter: str, whole: Any) -> tuple[dt.datetime, str]:
    try:
        instant, is_date = _parse_time(value, parameter)
    except ParameterParserException as error:
        # The bound alone is not enough to find the mistake in a call: show the interval too.
        raise ParameterParserException(
            f"{error} It is a bound of the interval {_show(whole)}."
        ) from error
    return instant, _write_time(instant, is_date)


def _format_date_filter(value: Any, parameter: str) -> str | None:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, tuple):
        return _format_interval(value, parameter, _date_bound)
    if isinstance(value, list):
        raise _error(
            parameter,
            value,
            f"Use a tuple (lower, upper) of times for a range; each bound is {_DATE_FORMS}.",
        )
    return _format_time(value, parameter)


def _format_publication_date(value: Any) -> str | None:
    return _format_date_filter(value, "publicationDate")


def _format_modification_date(value: Any) -> str | None:
    return _format_date_filter(value, "modificationDate")


# --- space ----------------------------------------------------------------------------------


def _check_box(box: list[int | float], value: Any) -> None:
    west, south, east, north = box
    if not all(math.isfinite(n) for n in box if isinstance(n, float)):
        raise _error("bbox", value, "Coordinates must be finite numbers (not NaN or infinity).")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise _error("bbox", value, "West and east must be longitudes from -180 to 180.")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise _error("bbox", value, "South and north must be latitudes from -90 to 90.")
    # west > east is a box across the antimeridian; south > north is no box at all.
    if south > north:
        raise _error("bbox", value, f"South ({south}) must not be greater than north ({north}).")


def _format_bbox(value: Any) -> str:
    expected = (
        "Expected 4 numbers (west, south, east, north) as a list, a tuple, a str 'w,s,e,n' "
        "or a dict with keys west, south, east and north"
    )
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        if len(parts) != 4 or not all(_DECIMAL.fullmatch(part) for part in parts):
            raise _error("bbox", value, f"{expected}.")
        _check_box([float(part) for part in parts], value)
        return ",".join(parts)
    if isinstance(value, Mapping):
        missing = [key for key in _BBOX_KEYS if key not in value]
        if missing:
            raise _error("bbox", value, f"{expected}; missing key(s): {', '.join(missing)}.")
        items = [value[key] for key in _BBOX_KEYS]
    elif isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.ndim == 1):
        items = list(value)
        if len(items) != 4:
            raise _error("bbox", value, f"{expected}; got {len(items)} values.")
    else:
        raise _error("bbox", value, f"{expected}, not {type(value).__name__}.")
    numbers = [_as_number(item) for item in items]
    box = [number for number in numbers if number is not None]
    if len(box) != 4:
        raise _error("bbox", value, f"{expected}; not every coordinate is a number.")
    _check_box(box, value)
    return ",".join(str(number) for number in box)


def _check_geometry(geometry: BaseGeometry, value: Any) -> None:
    if geometry.is_empty:
        raise _error("geometry", value, "The geometry is empty; it would match nothing.")
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise _error("geometry", value, "Coordinates must be finite numbers (not NaN or infinity).")


def _format_geometry(value: Any) -> str:
    expected = (
        "Expected a shapely geometry, a WKT str, a GeoJSON geometry mapping or an object with "
        "__geo_interface__"
    )
    if isinstance(value, str):
        try:
            geometry = wkt.loads(value)
        except (ShapelyError, ValueError, TypeError) as error:
            raise _error("geometry", value, f"It is not valid WKT: {error}.") from error
        _check_geometry(geometry, value)
        return _text(value)  # sent as given: it is what the user wrote, and it parses
    if isinstance(value, BaseGeometry):
        geometry = value
    else:
        try:
            if not (isinstance(value, Mapping) or hasattr(value, "__geo_interface__")):
                raise _error("geometry", value, f"{expected}, not {type(value).__name__}.")
            geometry = shape(value)
        except ParameterParserException:
            raise
        except Exception as error:  # a foreign __geo_interface__ may fail in any way
            raise _error("geometry", value, f"{expected}; it cannot be read: {error!r}.") from error
    _check_geometry(geometry, value)
    return wkt.dumps(geometry, trim=True)


# --- everything else ------------------------------------------------------------------------


def _format_relative_orbit_number(value: Any) -> str:
    if isinstance(value, str):
        return _text(value)
    number = _as_number(value)
    if not isinstance(number, int) or number <= 0:
        raise _error(
            "relativeOrbitNumber", value, "Expected a positive int (orbits count from 1) or a str."
        )
    try:
        return str(number)
    except ValueError as error:  # ints beyond Python's str conversion limit
        raise _error("relativeOrbitNumber", value, f"It cannot be written: {error}.") from error


def _format_extra(name: str, value: Any) -> str:
    """A parameter terracat does not know: passed through verbatim, as the reference does."""
    if isinstance(value, str):
        return _text(value)
    try:
        return str(value)
    except Exception as error:  # a user's object may fail to stringify; say which parameter
        raise _error(name, value, f"It cannot be written as text: {error!r}.") from error


_FORMATTERS: dict[str, Callable[[Any], str | None]] = {
    "start": _format_start,
    "end": _format_end,
    "bbox": _format_bbox,
    "geometry": _format_geometry,
    "title": partial(_format_text, parameter="title"),
    "productType": partial(_format_text, parameter="productType"),
    "relativeOrbitNumber": _format_relative_orbit_number,
    "orbitDirection": partial(_format_text, parameter="orbitDirection"),
    "cloudCover": _format_cloud_cover,
    "tileId": partial(_format_text, parameter="tileId"),
    "productGroupId": partial(_format_text, parameter="productGroupId"),
    "publicationDate": _format_publication_date,
    "modificationDate": _format_modification_date,
    "accessedFrom": partial(_format_text, parameter="accessedFrom"),
    "platform": partial(_format_text, parameter="platform"),
}


def _encode(named: dict[str, Any], extra: dict[str, Any]) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in named.items():
        if value is not None:
            text = _FORMATTERS[name](value)
            if text is not None:
                query[name] = text
    for name, value in extra.items():
        if value is not None:
            query[name] = _format_extra(name, value)
    _check_time_order(named.get("start"), named.get("end"))
    return query


# --- public ---------------------------------------------------------------------------------


def product_query(
    collection: str,
    *,
    start: Any = None,
    end: Any = None,
    bbox: Any = None,
    geometry: Any = None,
    title: str | None = None,
    productType: str | None = None,
    relativeOrbitNumber: int | str | None = None,
    orbitDirection: str | None = None,
    cloudCover: Any = None,
    tileId: str | None = None,
    productGroupId: str | None = None,
    publicationDate: Any = None,
    modificationDate: Any = None,
    accessedFrom: str | None = None,
    **kwargs: Any,
) -> dict[str, str]:
    """Encode a product search as OpenSearch query parameters.

    Parameters
    ----------
    collection : str
        the collection identifier
    start, end : str, datetime.date, datetime.datetime, pandas.Timestamp or numpy.datetime64
        the time range; a date is sent as ``2020-01-01``, a time as ``2021-02-20T10:11:12Z``
    bbox : list, tuple, dict or str
        ``(west, south, east, north)`` in degrees; west > east crosses the antimeridian
    geometry : shapely geometry, WKT str, GeoJSON mapping or ``__geo_interface__`` object
        sent as WKT
    title, productType, orbitDirection, tileId, productGroupId, accessedFrom : str
        sent verbatim
    relativeOrbitNumber : int or str
        a positive orbit number, or the catalogue's syntax as a str
    cloudCover : number, tuple or str
        a number is an upper bound (``60]``), a tuple ``(lower, upper)`` an interval whose
        ``None`` bounds are open, a str is sent verbatim
    publicationDate, modificationDate : tuple, str or a time
        a tuple is an interval of times (``None`` bounds are open), a str is sent verbatim
    **kwargs
        further parameters, sent as ``str(value)``

    Returns
    -------
    dict of str to str
        the query parameters; ``None`` values (and ``(None, None)`` intervals) are left out

    Raises
    ------
    ParameterParserException
        when a value cannot be encoded; the message names the parameter and the value

    Examples
    --------
    >>> product_query("urn:eop:VITO:CGS_S1_GRD_L1", relativeOrbitNumber=37,
    ...               cloudCover=(1.0, 78), start="2021-02-20T12:11:12+02:00")
    {'collection': 'urn:eop:VITO:CGS_S1_GRD_L1', 'start': '2021-02-20T10:11:12Z', \
'relativeOrbitNumber': '37', 'cloudCover': '[1.0,78]'}
    """
    named = {name: value for name, value in locals().items() if name in PRODUCT_FILTERS}
    return {"collection": _format_collection(collection), **_encode(named, kwargs)}


def collection_query(
    *,
    start: Any = None,
    end: Any = None,
    bbox: Any = None,
    geometry: Any = None,
    platform: str | None = None,
    **kwargs: Any,
) -> dict[str, str]:
    """Encode a collection search as OpenSearch query parameters.

    Parameters
    ----------
    start, end, bbox, geometry
        as for :func:`product_query`
    platform : str
        the acquisition platform, sent verbatim
    **kwargs
        further parameters, sent as ``str(value)``

    Returns
    -------
    dict of str to str
        the query parameters, ``None`` values left out

    Raises
    ------
    ParameterParserException
        when a value cannot be encoded; the message names the parameter and the value

    Examples
    --------
    >>> collection_query(platform="SENTINEL-2", bbox={"west": 4, "south": 50, "east": 5,
    ...                                                "north": 51})
    {'bbox': '4,50,5,51', 'platform': 'SENTINEL-2'}
    """
    named = {"start": start, "end": end, "bbox": bbox, "geometry": geometry, "platform": platform}
    return _encode(named, kwargs)


def check_limit(limit: Any) -> int | None:
    """Check the client-side cap on the number of products a search yields.

    Parameters
    ----------
    limit : int or None
        ``None`` for no cap, else the most products to yield (0 yields none)

    Returns
    -------
    int or None
        the limit as a plain int

    Raises
    ------
    ParameterParserException
        when the limit is negative or not an int (bools and floats included)

    Examples
    --------
    >>> check_limit(10)
    10
    >>> check_limit(None) is None
    True
    """
    if limit is None:
        return None
    if isinstance(limit, bool | np.bool_) or not isinstance(limit, int | np.integer):
        raise _error("limit", limit, "Expected None or an int >= 0.")
    if limit < 0:
        raise _error("limit", limit, "Expected None or an int >= 0.")
    return int(limit)
