"""Search parameters, checked once and held in a protocol-neutral form: the one list of filters.

Users hold dates, pandas timestamps, shapely geometries, dicts and tuples; a catalogue wants its
own spelling (OpenSearch ``cloudCover=[10,60]``, STAC a CQL2 filter). This module reads the loose
forms the reference client accepts into one neutral value per filter (:class:`Instant`,
:class:`Box`, :class:`Area`, :class:`Interval`, :class:`Verbatim`, plain text or numbers) and
refuses a bad one here, naming the parameter, the value and what would be valid, before anything
is sent. Each protocol writes the neutral values its own way (``protocols/<name>/encode.py``).

:data:`FILTERS` is the only place a search filter is named: the facade's documented signatures
(``Catalogue.get_products(collection, start=None, ..., limit=None, **kwargs)``) are generated
from it by :func:`filter_parameters`. Unlike the reference client, a value that is falsy but not
``None`` (``cloudCover=0``, ``relativeOrbitNumber=0``) is read or refused, never silently dropped.

>>> request = SearchRequest.for_products("urn:eop:VITO:TERRASCOPE_S2_TOC_V2",
...                                      start=dt.date(2022, 2, 1), cloudCover=(None, 60))
>>> request.filters["cloudCover"]
Interval(lower=None, upper=60)
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely import wkt
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from terracat.exceptions import ParameterParserException

__all__ = [
    "COLLECTION_FILTERS",
    "FILTERS",
    "PRODUCT_FILTERS",
    "Area",
    "Box",
    "Filter",
    "Instant",
    "Interval",
    "SearchRequest",
    "Verbatim",
    "check_limit",
    "filter_parameters",
    "format_datetime",
    "misspelled_filter",
    "parse_datetime",
    "show",
]

_BBOX_KEYS = ("west", "south", "east", "north")
# The decimal numbers a catalogue parses; float() alone would also let through 'nan', 'inf'
# and '1_0', which no catalogue understands.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE_FORMS = (
    "an ISO 8601 date or date and time str such as '2020-01-01' or '2021-02-20T10:11:12Z', "
    "a datetime.date, a datetime.datetime, a pandas.Timestamp or a numpy.datetime64"
)
_SHOWN_CHARACTERS = 120


# --- the neutral values -----------------------------------------------------------------------


@dataclass(frozen=True)
class Instant:
    """A time, in UTC; ``is_date`` when the user named a calendar day (its first instant)."""

    value: dt.datetime
    is_date: bool = False


@dataclass(frozen=True)
class Box:
    """A bounding box in degrees (west > east crosses the antimeridian).

    ``text`` is the box as the user wrote it, when they wrote a str (``"4.1,50,5.5,51"``): a
    catalogue that takes the same syntax is sent it unchanged.
    """

    west: int | float
    south: int | float
    east: int | float
    north: int | float
    text: str | None = None

    @property
    def numbers(self) -> tuple[int | float, int | float, int | float, int | float]:
        return self.west, self.south, self.east, self.north


@dataclass(frozen=True)
class Area:
    """A geometry to intersect, with its WKT (as the user wrote it, when they wrote WKT)."""

    geometry: BaseGeometry = field(compare=False)
    wkt: str


@dataclass(frozen=True)
class Interval:
    """A range of numbers or :class:`Instant` values; ``None`` leaves that end open.

    A single number given where a range is expected (``cloudCover=60``) is an upper bound.
    """

    lower: Any
    upper: Any


@dataclass(frozen=True)
class Verbatim:
    """A value given as a str in the catalogue's own syntax (``"[10,60]"``), sent as it is."""

    text: str


# --- errors ---------------------------------------------------------------------------------


def show(value: Any) -> str:
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
        f"Failed to parse the value of the '{parameter}' parameter: {show(value)}. {reason}"
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


# --- times ----------------------------------------------------------------------------------


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


def _read_time(value: Any, parameter: str) -> Instant:
    """One instant: a calendar date stays a date, anything with a time of day becomes UTC."""
    if isinstance(value, tuple | list):
        raise _error(
            parameter,
            value,
            f"Expected one time ({_DATE_FORMS}); give a range as start and end.",
        )
    return Instant(*_parse_time(value, parameter))


def _check_time_order(start: Instant | None, end: Instant | None, given: Mapping[str, Any]) -> None:
    """Refuse ``start`` after ``end``: a catalogue would answer an empty page, not an error."""
    if start is None or end is None or start.value <= end.value:
        return
    raise ParameterParserException(
        f"Failed to parse the values of the 'start' and 'end' parameters: start "
        f"{show(given['start'])} is after end {show(given['end'])}. The start of a time range "
        "must not be after its end."
    )


# --- intervals ------------------------------------------------------------------------------

_NUMBER = r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*"
# OpenSearch's value syntax for numbers (OGC 13-026r9, 7.3): ``60`` exact, ``{1,2,3}`` a set,
# ``[a,b]`` ``]a,b[`` ``[a,b[`` ``]a,b]`` a range, ``[a`` ``]a`` a lower and ``b]`` ``b[`` an
# upper bound. The local catalogue reads exactly these (terracat/server/intervals.py).
_NUMBER_FORMS = (
    re.compile(_NUMBER),
    re.compile(rf"\{{{_NUMBER}(?:,{_NUMBER})*\}}"),
    re.compile(rf"[\[\]]{_NUMBER},{_NUMBER}[\[\]]"),
    re.compile(rf"[\[\]]{_NUMBER}"),
    re.compile(rf"{_NUMBER}[\[\]]"),
)
_NUMBER_SYNTAX = (
    "Expected a number or the catalogue's interval syntax: '60' (exactly), '{1,2}' (any of), "
    "'[10,60]' or ']10,60[' (between, with or without the bounds), '[10' or ']10' (at least, "
    "more than), '60]' or '60[' (at most, less than)."
)


def _numeric_text(value: str, parameter: str) -> Verbatim:
    """A number or interval written as text, checked against OpenSearch's value syntax.

    A catalogue answers malformed text with an error page or, worse, ignores the filter and
    returns everything; refused here, nothing is sent.
    """
    text = _text(value)
    stripped = text.strip()
    for form in _NUMBER_FORMS:
        match = form.fullmatch(stripped)
        if match is not None:
            break
    else:
        raise _error(parameter, value, _NUMBER_SYNTAX)
    # '1e999' is a decimal, and infinite
    if not all(math.isfinite(float(number)) for number in _DECIMAL.findall(stripped)):
        raise _error(parameter, value, "Its numbers must be finite.")
    if form is _NUMBER_FORMS[2] and float(match.group(1)) > float(match.group(2)):
        raise _error(
            parameter, value, "The lower bound of the interval is greater than its upper bound."
        )
    return Verbatim(text)


_Bound = Callable[[Any, str, Any], Any]


def _read_interval(value: tuple[Any, ...], parameter: str, bound: _Bound) -> Interval | None:
    """A 2-tuple ``(lower, upper)`` as an :class:`Interval`; ``(None, None)`` filters nothing.

    ``bound(item, parameter, whole)`` reads one bound into a value that compares.
    """
    if len(value) != 2:
        raise _error(
            parameter,
            value,
            f"A tuple of length {len(value)} is not supported. "
            "To use an interval, the tuple should be of length 2.",
        )
    lower, upper = (None if item is None else bound(item, parameter, value) for item in value)
    if lower is None and upper is None:
        return None
    if lower is not None and upper is not None and _key(lower) > _key(upper):
        raise _error(
            parameter, value, "The lower bound of the interval is greater than its upper bound."
        )
    return Interval(lower, upper)


def _key(bound: Any) -> Any:
    return bound.value if isinstance(bound, Instant) else bound


def _cloud_cover_bound(value: Any, parameter: str, whole: Any) -> int | float:
    number = _as_number(value)
    if number is None or (isinstance(number, float) and math.isnan(number)):
        raise _error(parameter, whole, f"{show(value)} is not a percentage from 0 to 100.")
    if not 0 <= number <= 100:
        raise _error(parameter, whole, f"{show(value)} is outside the range 0 to 100.")
    return number


def _read_cloud_cover(value: Any) -> Interval | Verbatim | None:
    if isinstance(value, str):
        return _numeric_text(value, "cloudCover")
    if isinstance(value, tuple):
        return _read_interval(value, "cloudCover", _cloud_cover_bound)
    if isinstance(value, list):
        raise _error(
            "cloudCover",
            value,
            "Use a tuple (lower, upper) for an interval, a number for an upper bound, "
            "or a str in the catalogue's syntax.",
        )
    return Interval(None, _cloud_cover_bound(value, "cloudCover", value))


def _date_bound(value: Any, parameter: str, whole: Any) -> Instant:
    try:
        return Instant(*_parse_time(value, parameter))
    except ParameterParserException as error:
        # The bound alone is not enough to find the mistake in a call: show the interval too.
        raise ParameterParserException(
            f"{error} It is a bound of the interval {show(whole)}."
        ) from error


def _read_date_filter(value: Any, parameter: str) -> Interval | Instant | Verbatim | None:
    if isinstance(value, str):
        return Verbatim(_text(value))
    if isinstance(value, tuple):
        return _read_interval(value, parameter, _date_bound)
    if isinstance(value, list):
        raise _error(
            parameter,
            value,
            f"Use a tuple (lower, upper) of times for a range; each bound is {_DATE_FORMS}.",
        )
    return _read_time(value, parameter)


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


def _read_bbox(value: Any) -> Box:
    expected = (
        "Expected 4 numbers (west, south, east, north) as a list, a tuple, a str 'w,s,e,n' "
        "or a dict with keys west, south, east and north"
    )
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        if len(parts) != 4 or not all(_DECIMAL.fullmatch(part) for part in parts):
            raise _error("bbox", value, f"{expected}.")
        numbers = [float(part) for part in parts]
        _check_box(numbers, value)
        return Box(*numbers, text=",".join(parts))
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
    return Box(*box)


def _check_geometry(geometry: BaseGeometry, value: Any) -> None:
    if geometry.is_empty:
        raise _error("geometry", value, "The geometry is empty; it would match nothing.")
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise _error("geometry", value, "Coordinates must be finite numbers (not NaN or infinity).")


def _read_geometry(value: Any) -> Area:
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
        return Area(geometry, _text(value))  # its WKT as given: what the user wrote, and it parses
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
    return Area(geometry, wkt.dumps(geometry, trim=True))


# --- everything else ------------------------------------------------------------------------


def _read_text(parameter: str) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if not isinstance(value, str):
            raise _error(parameter, value, f"Expected a str, not {type(value).__name__}.")
        return _text(value)

    return read


def _read_relative_orbit_number(value: Any) -> int | Verbatim:
    if isinstance(value, str):
        return _numeric_text(value, "relativeOrbitNumber")
    number = _as_number(value)
    if not isinstance(number, int) or number <= 0:
        raise _error(
            "relativeOrbitNumber", value, "Expected a positive int (orbits count from 1) or a str."
        )
    try:
        str(number)
    except ValueError as error:  # ints beyond Python's str conversion limit
        raise _error("relativeOrbitNumber", value, f"It cannot be written: {error}.") from error
    return number


def _read_collection(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(
            "collection",
            value,
            "Expected a non-empty collection identifier str such as "
            "'urn:eop:VITO:TERRASCOPE_S2_TOC_V2'.",
        )
    return _text(value)


# --- the one list of filters ------------------------------------------------------------------

DateLike = str | dt.date | dt.datetime
BBoxLike = str | list[int | float] | tuple[int | float, ...] | dict[str, int | float]
_TimeRange = tuple[DateLike | None, DateLike | None] | str | None


@dataclass(frozen=True)
class Filter:
    """One search filter: its name (as the catalogue and the reference client spell it), how a
    loose value is read, the annotation its parameter shows, and which searches take it."""

    name: str
    read: Callable[[Any], Any]
    annotation: Any
    products: bool = True
    collections: bool = False


FILTERS: tuple[Filter, ...] = (
    Filter("start", lambda v: _read_time(v, "start"), DateLike | None, collections=True),
    Filter("end", lambda v: _read_time(v, "end"), DateLike | None, collections=True),
    Filter("bbox", _read_bbox, BBoxLike | None, collections=True),
    Filter("geometry", _read_geometry, str | BaseGeometry | None, collections=True),
    Filter("title", _read_text("title"), str | None),
    Filter("productType", _read_text("productType"), str | None),
    Filter("relativeOrbitNumber", _read_relative_orbit_number, int | str | None),
    Filter("orbitDirection", _read_text("orbitDirection"), str | None),
    Filter("cloudCover", _read_cloud_cover, Any),
    Filter("tileId", _read_text("tileId"), str | None),
    Filter("productGroupId", _read_text("productGroupId"), str | None),
    Filter("publicationDate", lambda v: _read_date_filter(v, "publicationDate"), _TimeRange),
    Filter("modificationDate", lambda v: _read_date_filter(v, "modificationDate"), _TimeRange),
    Filter("accessedFrom", _read_text("accessedFrom"), str | None),
    Filter("platform", _read_text("platform"), str | None, products=False, collections=True),
)
"""Every named filter, in the order they are sent."""

_BY_NAME = {f.name: f for f in FILTERS}
PRODUCT_FILTERS = tuple(f.name for f in FILTERS if f.products)
"""The named filters of a product search, in the order they are sent."""
COLLECTION_FILTERS = tuple(f.name for f in FILTERS if f.collections)
"""The named filters of a collection search."""


@dataclass(frozen=True)
class SearchRequest:
    """A search, checked: what any protocol's encoder turns into its own query.

    Attributes
    ----------
    collection : str or None
        the collection searched (``None`` for a search of collections)
    filters : dict
        the neutral value of each named filter given (``None`` and ``(None, None)`` left out), in
        the order of :data:`FILTERS`
    extra : dict
        further keyword parameters, as given (each protocol passes them on its own way)
    limit : int or None
        the most products wanted (a client-side cap, apart from the page size)
    """

    collection: str | None
    filters: Mapping[str, Any]
    extra: Mapping[str, Any]
    limit: int | None = None

    @classmethod
    def for_products(
        cls, collection: Any, /, *, limit: Any = None, **parameters: Any
    ) -> SearchRequest:
        """A product search of ``collection``; named filters and extras in ``parameters``.

        ``collection`` is positional only, so that a catalogue's own property of any name
        (``cls``, ``collection``) reaches the search as an extra filter, not a TypeError."""
        return cls(
            _read_collection(collection), *_read(parameters, PRODUCT_FILTERS), check_limit(limit)
        )

    @classmethod
    def for_collections(cls, **parameters: Any) -> SearchRequest:
        """A search of the catalogue's collections."""
        return cls(None, *_read(parameters, COLLECTION_FILTERS))


_KNOWN_NAMES = (*(f.name for f in FILTERS), "limit")
"""The names a keyword is compared with for a misspelling: every filter, and the cap."""


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by at most one inserted, deleted or replaced character, or
    two neighbours swapped (the commonest slip of a typing hand)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) == len(b):
        swapped = a[at : at + 2] == b[at : at + 2][::-1] and a[at + 2 :] == b[at + 2 :]
        return swapped or a[at + 1 :] == b[at + 1 :]
    return a[at:] == b[at + 1 :]


def misspelled_filter(name: str, names: tuple[str, ...] = _KNOWN_NAMES) -> str | None:
    """The known filter ``name`` misspells: equal but for case or one edit, else ``None``.

    A catalogue ignores a parameter it does not know and answers the unfiltered result, so
    ``cloudcover=10`` or ``tileID=...`` would silently return every product.

    Examples
    --------
    >>> misspelled_filter("cloudcover"), misspelled_filter("tileID"), misspelled_filter("sortKeys")
    ('cloudCover', 'tileId', None)
    """
    if name in names:
        return None
    lowered = name.lower()
    return next((known for known in names if _one_edit_apart(lowered, known.lower())), None)


def _check_spelling(extra: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in extra:
        known = misspelled_filter(name) if name not in names else None
        if known is not None:
            raise ParameterParserException(
                f"The '{name}' parameter is not a filter terracat knows, but it is one letter "
                f"or only case away from '{known}': did you mean {known}=...? A catalogue "
                "ignores a parameter it does not know and answers the unfiltered result."
            )


def _read(
    parameters: Mapping[str, Any], names: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    filters: dict[str, Any] = {}
    for name in names:
        value = parameters.get(name)
        if value is not None:
            read = _BY_NAME[name].read(value)
            if read is not None:
                filters[name] = read
    extra = {k: v for k, v in parameters.items() if k not in names and v is not None}
    _check_spelling(extra, names)
    _check_time_order(filters.get("start"), filters.get("end"), parameters)
    return filters, extra


F = TypeVar("F", bound=Callable[..., Any])


def filter_parameters(search: str, *, before: str | None = None) -> Callable[[F], F]:
    """Give a search method the named filters of ``search`` (``"products"``, ``"collections"``)
    as parameters, so that its signature is the documented one while only :data:`FILTERS`
    names them.

    The filters are inserted before the parameter ``before`` (else after the positional
    ones), positional or keyword, default ``None``; the method receives them in its
    ``**kwargs``, with any other keyword.
    """
    chosen = [f for f in FILTERS if getattr(f, search)]

    def decorate(method: F) -> F:
        own = inspect.signature(method)
        parameters = list(own.parameters.values())
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if before is not None:
            at = [p.name for p in parameters].index(before)
        else:
            at = next(
                (i for i, p in enumerate(parameters) if p.kind not in positional), len(parameters)
            )
        inserted = [
            inspect.Parameter(
                f.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=None,
                annotation=f.annotation,
            )
            for f in chosen
        ]
        signature = own.replace(parameters=[*parameters[:at], *inserted, *parameters[at:]])
        keywords = next(
            (p.name for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD), None
        )

        @functools.wraps(method)
        def with_filters(*args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind(*args, **kwargs).arguments
            extra = arguments.pop(keywords, {}) if keywords else {}
            return method(**arguments, **extra)

        with_filters.__signature__ = signature  # type: ignore[attr-defined]
        return with_filters  # type: ignore[return-value]

    return decorate


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
