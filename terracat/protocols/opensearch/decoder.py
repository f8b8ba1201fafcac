"""OpenSearch's :class:`~terracat.frame.builder.Decoder`: products' properties into rows, fast.

A batch's properties, joined into the very buffer of the frame's ``properties`` text column, go
to Arrow's JSON reader in the background thread with a schema learned from the search's first
products (:mod:`terracat.protocols.opensearch.arrow_rows`); the columns are cut out of Arrow's
result with Arrow compute. A batch Arrow refuses, or could only flatten by knowing which keys
each product has, takes the general path (:mod:`terracat.protocols.opensearch.rows`), and
teaches the schema what it lacked, for the batches submitted after it.

Its own module because it joins the two paths, which import each other's names the other way
(the Arrow path reproduces the general one's key order).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from terracat.frame import DecodedRows
from terracat.frame.background import submit
from terracat.frame.jsonlines import all_objects
from terracat.protocols.opensearch.arrow_rows import (
    Layout,
    PropertySchema,
    batch_columns,
    joined,
    parse_batch,
)
from terracat.protocols.opensearch.rows import general_rows

__all__ = ["OpenSearchDecoder"]


class OpenSearchDecoder:
    """Decodes one search's OpenSearch products, learning their schema as they come.

    ``arrow=False`` flattens every batch by the general path (to compare the two).
    """

    def __init__(self, *, arrow: bool = True) -> None:
        self.schema = PropertySchema(usable=arrow)

    def decode(self, properties: Sequence[bytes]) -> _Decoding:
        if self.schema.type is None and self.schema.usable:
            self.schema.learn(properties[: PropertySchema.SAMPLE])
        return _Decoding(properties, self.schema)


class _Decoding:
    """A batch whose properties Arrow is parsing in the background."""

    def __init__(self, raw_properties: Sequence[bytes], learner: PropertySchema) -> None:
        self.raw_properties = raw_properties
        self.learner = learner
        schema: tuple[pa.StructType, Layout] | None = learner.current()
        self.schema = schema
        data, offsets = joined(raw_properties)
        readable = schema is not None and all_objects(raw_properties)
        self._parsed = submit(parse_batch, data, offsets, schema[0] if readable else None)

    def done(self) -> bool:
        return self._parsed.done()

    def rows(self) -> DecodedRows:
        """The batch's rows; a batch Arrow could not flatten teaches the search's schema what
        it lacked."""
        parsed = self._parsed.result()
        found = None
        if parsed.table is not None and self.schema is not None:
            found = batch_columns(parsed.table, *self.schema)
        if found is None:
            if self.schema is not None:
                self.learner.learn(self.raw_properties)
            columns, files = general_rows(self.raw_properties)
        else:
            columns, files = found
        del self.raw_properties, self._parsed  # the page bodies and the parsed table
        return DecodedRows(parsed.text, columns, files, found is not None)
