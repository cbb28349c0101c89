"""Hotline addresses (12345 接诉即办) → buildings: the gazetteer and the manual queue."""

from grid.hotline import models  # noqa: F401  (registers the tables on Base.metadata)
