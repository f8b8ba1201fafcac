"""STAC items and stac-geoparquet from product frames, and stac-geoparquet back into frames."""
