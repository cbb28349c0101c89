"""GCJ-02 / BD-09 conversions against vectors published by maintained projects, to 1e-6°."""

from __future__ import annotations

import numpy as np
import pytest

from grid.errors import InvalidInput
from grid.spatial import chinacrs

TOL = 1e-6

# wandergis/coordtransform, test/app.js ("//result" block): input (116.404, 39.915) for each.
COORDTRANSFORM = [
    (chinacrs.bd09_to_gcj02, (116.404, 39.915), (116.39762729119315, 39.90865673957631)),
    (chinacrs.gcj02_to_bd09, (116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    (chinacrs.wgs84_to_gcj02, (116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    # coordtransform's gcj02towgs84 is the one-step approximation; the iterated inverse agrees
    # with it to 2.6e-7°, inside the tolerance (the exactness is checked by round trip below).
    (chinacrs.gcj02_to_wgs84, (116.404, 39.915), (116.39775550083061, 39.91359571849836)),
]

# googollee/eviltransform, python/test.py TESTS: (wgsLat, wgsLng, gcjLat, gcjLng).
EVILTRANSFORM_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]

# hujiulong/gcoord, test/unit/crs/GCJ02.spec.js (published to 8 decimals).
GCOORD = [
    (chinacrs.gcj02_to_wgs84, (123.0, 45.0), (122.99395597, 44.99804071)),
    (chinacrs.gcj02_to_bd09, (123.0, 45.0), (123.00636499, 45.00636899)),
]

# A Rust crate's reference constants (its doc cites eviltransform, coordtransform and PRCoords):
# WGS84 (121.0917077, 30.6107779) → GCJ02 (121.09626927850977, 30.608604368560773)
# → BD09 (121.10271724622564, 30.61484575976839).
CHAIN = ((121.0917077, 30.6107779), (121.09626927850977, 30.608604368560773),
         (121.10271724622564, 30.61484575976839))


@pytest.mark.parametrize(("func", "given", "expected"), COORDTRANSFORM + GCOORD)
def test_published_vectors(func, given, expected):
    lon, lat = func(*given)
    assert lon == pytest.approx(expected[0], abs=TOL)
    assert lat == pytest.approx(expected[1], abs=TOL)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM_WGS_GCJ)
def test_eviltransform_vectors_both_ways(wlat, wlon, glat, glon):
    assert chinacrs.wgs84_to_gcj02(wlon, wlat) == pytest.approx((glon, glat), abs=TOL)
    # The iterated inverse recovers the published WGS 84 input to ~1 cm (1e-7°).
    assert chinacrs.gcj02_to_wgs84(glon, glat) == pytest.approx((wlon, wlat), abs=1e-7)


def test_chain_wgs_gcj_bd():
    wgs, gcj, bd = CHAIN
    assert chinacrs.wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=TOL)
    assert chinacrs.wgs84_to_bd09(*wgs) == pytest.approx(bd, abs=TOL)
    assert chinacrs.bd09_to_wgs84(*bd) == pytest.approx(wgs, abs=TOL)
    assert chinacrs.to_storage(*bd, "bd09") == pytest.approx(wgs, abs=TOL)
    assert chinacrs.to_storage(*gcj, "GCJ-02") == pytest.approx(wgs, abs=1e-7)


def test_vectorised_matches_scalar_and_inverse_is_centimetre_exact():
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.5, 135.0, 2000)
    lat = rng.uniform(18.0, 53.5, 2000)
    glon, glat = chinacrs.wgs84_to_gcj02(lon, lat)
    assert glon.shape == lon.shape
    # The shift is the advertised 100–700 m scale, never zero inside China.
    assert np.all(np.hypot(glon - lon, glat - lat) > 1e-4)
    assert chinacrs.wgs84_to_gcj02(lon[5], lat[5]) == pytest.approx((glon[5], glat[5]), abs=1e-12)
    wlon, wlat = chinacrs.gcj02_to_wgs84(glon, glat)
    assert np.max(np.abs(wlon - lon)) < 1e-7
    assert np.max(np.abs(wlat - lat)) < 1e-7
    blon, blat = chinacrs.wgs84_to_bd09(lon, lat)
    wlon, wlat = chinacrs.bd09_to_wgs84(blon, blat)
    assert np.max(np.abs(wlon - lon)) < 1e-6
    assert np.max(np.abs(wlat - lat)) < 1e-6


def test_outside_china_not_shifted():
    points = [(2.35, 48.85), (-74.0, 40.7), (183.0, 45.0), (139.7, 35.7)]
    for lon, lat in points:
        assert chinacrs.out_of_china(lon, lat)
        assert chinacrs.wgs84_to_gcj02(lon, lat) == (lon, lat)
        assert chinacrs.gcj02_to_wgs84(lon, lat) == (lon, lat)
        assert chinacrs.to_storage(lon, lat, "gcj02") == (lon, lat)
    assert not chinacrs.out_of_china(116.4, 39.9)
    mask = chinacrs.out_of_china(np.array([116.4, 2.35]), np.array([39.9, 48.85]))
    assert mask.tolist() == [False, True]


def test_nan_passes_through():
    lon, lat = chinacrs.gcj02_to_wgs84(np.array([116.4, np.nan]), np.array([39.9, np.nan]))
    assert np.isfinite(lon[0]) and np.isnan(lon[1]) and np.isnan(lat[1])


def test_to_storage_names_and_epsg():
    assert chinacrs.to_storage(116.4, 39.9, "wgs84") == (116.4, 39.9)
    assert chinacrs.to_storage(116.4, 39.9, "cgcs2000") == (116.4, 39.9)
    assert chinacrs.to_storage(116.4, 39.9, None) == (116.4, 39.9)
    assert chinacrs.to_storage(116.4, 39.9, "EPSG:4490") == pytest.approx((116.4, 39.9))
    # CGCS2000 / 3-degree Gauss-Kruger CM 117E (EPSG:4548): project and come back.
    from pyproj import Transformer

    x, y = Transformer.from_crs(4490, 4548, always_xy=True).transform(116.4, 39.9)
    assert chinacrs.to_storage(x, y, "4548") == pytest.approx((116.4, 39.9), abs=1e-8)
    assert chinacrs.from_storage(*chinacrs.to_storage(116.41, 39.91, "gcj02"), "gcj02") == (
        pytest.approx((116.41, 39.91), abs=1e-7))
    for bad in ("mercator", "EPSG:999999", "epsg:abc"):
        with pytest.raises(InvalidInput):
            chinacrs.to_storage(116.4, 39.9, bad)
