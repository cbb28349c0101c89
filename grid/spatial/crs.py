"""Coordinate reference systems used by the service."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from grid.db import STORAGE_SRID

if TYPE_CHECKING:  # pyproj is imported when a transformer is made (grid place never does)
    from pyproj import Transformer


def gauss_kruger_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3° Gauss-Krüger zone (central meridian in the name, no zone
    prefix in the easting: EPSG:4534–4554) whose central meridian is nearest ``lon``.

    Areas in m² and distances in metres are computed in this zone: it is what Chinese survey
    data is delivered in, and its scale error inside a 3° strip is below 1/1000 at most.
    """
    zone = round(lon / 3)
    if not 25 <= zone <= 45:
        raise ValueError(f"longitude {lon} is outside China's Gauss-Krüger zones 25–45")
    return 4534 + zone - 25


def to_metres(lon: float) -> Transformer:
    """A transformer from storage coordinates to the Gauss-Krüger zone around ``lon``."""
    return _transformer(gauss_kruger_epsg(lon))


@lru_cache(maxsize=32)
def _transformer(epsg: int) -> Transformer:
    from pyproj import CRS, Transformer

    return Transformer.from_crs(CRS.from_epsg(STORAGE_SRID), CRS.from_epsg(epsg), always_xy=True)
