"""The frame's column contract (DESIGN.md), whichever protocol the products came from.

The core and time columns, the dtypes of the names every catalogue shares, and the rules that
give any other column a stable dtype: Arrow columns cast in C++ where their values allow, Python
values typed all at once, odd values kept as objects rather than failing. Also the frame of no
products, and a frame from elsewhere (Parquet) brought back to the contract.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from functools import reduce
from itertools import chain
from typing import Any

import geopandas
import numpy as np
import pandas as pd
import pyarrow as pa

from terracat.frame.files import FILE_COLUMNS, FILE_LIST, FILE_LIST_DTYPE, file_list_array

__all__ = [
    "CORE_COLUMNS",
    "KNOWN_DTYPES",
    "TIME_COLUMNS",
    "Unlearnable",
    "as_naive_utc",
    "empty_frame",
    "file_list_arrow",
    "merged",
    "normalise_frame",
]

CORE_COLUMNS = ("id", "title", "collection")
TIME_COLUMNS = ("beginningDateTime", "endingDateTime", "date", "published", "updated", "available")
KNOWN_DTYPES: dict[str, str] = {
    "cloudCover": "float64",
    "relativeOrbitNumber": "Int64",
    "orbitNumber": "Int64",
    "tileId": "string",
    "orbitDirection": "string",
    "productType": "string",
    "productGroupId": "string",
    "platformShortName": "string",
    "platformSerialIdentifier": "string",
    "instrumentShortName": "string",
    "sensorType": "string",
}


FILTERED_COLUMNS = ("cloudCover", "tileId", "relativeOrbitNumber", "orbitDirection", "productType")
"""The columns the common filters are written against (``df.query("cloudCover < 10")``): an
empty result has them too, so that the query written for a full one runs on it."""


def _ordered(frame: pd.DataFrame) -> list[str]:
    first = [c for c in (*CORE_COLUMNS, *TIME_COLUMNS) if c in frame.columns]
    last = [c for c in (*FILE_COLUMNS, "properties", "geometry") if c in frame.columns]
    middle = [c for c in frame.columns if c not in first and c not in last]
    return first + middle + last


def _looks_like_time(name: str) -> bool:
    return name.endswith(("DateTime", "Date", "Time")) or name in TIME_COLUMNS


ARROW_TYPES = {
    "float64": pa.float64(),
    "Int64": pa.int64(),
    "string": pa.string(),
}
UTC_MILLISECONDS = pa.timestamp("ms", tz="UTC")
_PANDAS_TYPES = {
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


class _Missing(int):
    """A batch's share of a column it does not have: that many nulls."""


def _folded_column(
    name: str, chunks: Sequence[pa.Array | Sequence[Any] | _Missing], mask: pa.Array | None
) -> Any:
    """One column of a fold from its batches' shares, typed by Arrow in C++ where they allow.

    A field whose values mix types (a number here, text there) takes the slower path of
    :func:`_column`, which keeps odd values as objects rather than failing.
    """
    if not any(isinstance(chunk, pa.Array) for chunk in chunks):
        values = _values(chunks, mask)  # the general path's: typed all at once, as they came
        try:
            column = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return _column(name, values)
        if _numbers_with_booleans(column, values):
            return _column(name, values)
        return _typed_column(name, column)
    try:
        shares = [chunk if isinstance(chunk, pa.Array) else _share(chunk) for chunk in chunks]
        common = reduce(merged, (share.type for share in shares))
        column = pa.concat_arrays([share.cast(common) for share in shares])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, Unlearnable):
        return _column(name, _values(chunks, mask))
    return _typed_column(name, column if mask is None else column.filter(mask))


def _share(chunk: Sequence[Any] | _Missing) -> pa.Array:
    """A general-path batch's share of a column, typed by Arrow unless it mixes numbers with
    true/false (:func:`_numbers_with_booleans`): then the fold keeps the values as objects."""
    values = _python(chunk)
    share = pa.array(values)
    if _numbers_with_booleans(share, values):
        raise Unlearnable("numbers mixed with true/false")
    return share


def _numbers_with_booleans(column: pa.Array, values: list[Any]) -> bool:
    """Whether Arrow read numbers mixed with true/false as numbers (``False`` as 0): such a
    field keeps its values as they came, as when its batches are typed one by one."""
    numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    return numeric and any(type(value) is bool for value in values)


def _values(chunks: Sequence[pa.Array | Sequence[Any] | _Missing], mask: pa.Array | None) -> list:
    """The Python values of a column's shares, those ``mask`` keeps."""
    values = list(chain.from_iterable(map(_python, chunks)))
    if mask is None:
        return values
    return [value for value, flag in zip(values, mask.to_pylist(), strict=True) if flag]


def _python(chunk: pa.Array | Sequence[Any] | _Missing) -> Sequence[Any]:
    if isinstance(chunk, _Missing):
        return (None,) * chunk
    if isinstance(chunk, pa.Array):
        return chunk.to_pylist()
    return chunk


def _typed_column(name: str, column: pa.Array) -> Any:
    """An Arrow column as the contract's dtype: known names and times cast, the rest as read."""
    target = ARROW_TYPES.get(KNOWN_DTYPES.get(name, ""))
    if target is None and _looks_like_time(name) and column.type in (pa.string(), pa.null()):
        target = UTC_MILLISECONDS
    if target is not None and column.type != target:
        try:
            column = column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _column(name, column.to_pylist())
    if column.type == pa.null():
        return pd.array([None] * len(column), dtype=object)
    return column.to_pandas(types_mapper=_PANDAS_TYPES.get)


def _column(name: str, values: list[Any]) -> Any:
    """One column with a stable dtype: UTC datetimes, nullable integers, floats, strings."""
    dtype = KNOWN_DTYPES.get(name)
    if dtype is None and _looks_like_time(name):
        return _as_time(values)
    if dtype is None:
        dtype = _inferred_dtype(values)
    if dtype == "string":
        try:
            return pd.arrays.ArrowStringArray(pa.array(values, pa.string()))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    try:
        return pd.array(values, dtype=dtype)
    except (ValueError, TypeError, OverflowError):  # 2**70 is an int, but no Int64
        return pd.array(values, dtype=object)  # a catalogue sent something odd: keep it as it came


def _as_time(values: list[Any]) -> Any:
    if not all(v is None or isinstance(v, str) for v in values):
        return pd.array(values, dtype=object)
    try:
        parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return pd.array(values, dtype=object)
    return parsed.as_unit("ms")


def _inferred_dtype(values: list[Any]) -> str:
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    if not kinds:
        return "object"
    if kinds <= {bool}:
        return "boolean"
    if kinds <= {int}:
        return "Int64"
    if kinds <= {int, float}:
        return "float64"
    if kinds <= {str}:
        return "string"
    return "object"


def empty_frame() -> geopandas.GeoDataFrame:
    """A frame with the contract's core columns and no rows, for searches that match nothing
    (:data:`FILTERED_COLUMNS` among them)."""
    columns: dict[str, pd.Series] = {
        "id": pd.Series(dtype="string"),
        "title": pd.Series(dtype="string"),
        "collection": pd.Series(dtype="string"),
    }
    for name in TIME_COLUMNS:
        columns[name] = pd.Series(dtype="datetime64[ms, UTC]")
    for name in FILTERED_COLUMNS:
        columns[name] = pd.Series(dtype=KNOWN_DTYPES[name])
    for name in FILE_COLUMNS:
        columns[name] = pd.Series(dtype=FILE_LIST_DTYPE)
    columns["properties"] = pd.Series(dtype="string")
    return geopandas.GeoDataFrame(
        columns, geometry=geopandas.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326"
    )


def normalise_frame(frame: pd.DataFrame) -> geopandas.GeoDataFrame:
    """A frame read back from Parquet (or built elsewhere) brought back to the contract.

    File lists become the Arrow ``list<struct>`` columns a search makes, whether they come back
    as such, as arrays of dicts (files written without pandas metadata, or by terracat before
    0.2), or as lists of dicts.
    """
    frame = frame.copy()
    for kind in FILE_COLUMNS:
        if kind in frame.columns and frame[kind].dtype != FILE_LIST_DTYPE:
            frame[kind] = pd.arrays.ArrowExtensionArray(file_list_arrow(frame[kind]))
    if "properties" in frame.columns:
        texts = [
            v if v is None or isinstance(v, str) else json.dumps(v) for v in frame["properties"]
        ]
        frame["properties"] = pd.array(texts, dtype="string")
    if not isinstance(frame, geopandas.GeoDataFrame):
        frame = geopandas.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    return frame


def file_list_arrow(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A file-list column as Arrow ``list<struct>``, whichever form the frame holds it in."""
    if isinstance(column.dtype, pd.ArrowDtype):
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.array(column.array).cast(FILE_LIST)
    return file_list_array(column)


def as_naive_utc(value: Any) -> Any:
    """A frame timestamp as the naive-UTC ``datetime`` the reference client's objects carry."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).tz_convert("UTC").tz_localize(None).to_pydatetime()


class Unlearnable(ValueError):
    """Values of one name that no single Arrow type holds (text here, a number there)."""


def merged(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type holding values of both types, as Arrow's reader accepts them."""
    if a == b or b == pa.null():
        return a
    if a == pa.null():
        return b
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()  # the reader turns integers into doubles, not the reverse
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(merged(a.value_type, b.value_type))
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {field.name: field.type for field in a}
        for field in b:
            fields[field.name] = merged(fields.get(field.name, pa.null()), field.type)
        return pa.struct(list(fields.items()))
    raise Unlearnable(f"{a} and {b}")
