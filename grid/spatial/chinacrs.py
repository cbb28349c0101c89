"""China's obfuscated web-map coordinates: GCJ-02 (国测局, "Mars") and BD-09 (百度).

Phones and web maps in China report GCJ-02 (Amap/高德, Tencent/腾讯, WeChat) or BD-09 (Baidu/百度),
300–700 m away from WGS 84; a point taken at face value lands in the wrong grid. This module
implements the published algorithm (the one in eviltransform, coordtransform and PRCoords) with
numpy, so every function accepts floats or arrays and returns ``(lon, lat)`` of the same shape.

Points outside China's bounding box are not shifted, as the published algorithm says. The inverse
(GCJ-02 → WGS 84) has no closed form; it is iterated until every point moves less than about a
centimetre (1e-7°).

``to_storage`` is the one entry point inputs use: it accepts ``wgs84``, ``cgcs2000``, ``gcj02``,
``bd09`` or any EPSG code and returns CGCS2000 (EPSG:4490) lon/lat. WGS 84 and CGCS2000 differ by a
few centimetres, below the precision of any boundary we load, so they are treated as the same
datum (as PROJ's null transform between EPSG:4326 and EPSG:4490 does).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from grid.errors import InvalidInput

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 obfuscation.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
# Centimetre convergence for the iterative inverse: 1e-7° is ~1.1 cm of latitude.
_TOLERANCE_DEG = 1e-7
_MAX_ITERATIONS = 30

STORAGE_CRS = "EPSG:4490"
NAMED_CRS = ("wgs84", "cgcs2000", "gcj02", "bd09")


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray, bool]:
    lon_a = np.asarray(lon, dtype="float64")
    lat_a = np.asarray(lat, dtype="float64")
    scalar = lon_a.ndim == 0 and lat_a.ndim == 0
    if lon_a.shape != lat_a.shape:
        lon_a, lat_a = (np.array(a) for a in np.broadcast_arrays(lon_a, lat_a))
    return lon_a, lat_a, scalar


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon, lat):
    """True where the point lies outside the bounding box in which GCJ-02 applies."""
    lon_a, lat_a, scalar = _arrays(lon, lat)
    outside = ~((lon_a >= 72.004) & (lon_a <= 137.8347) & (lat_a >= 0.8293) & (lat_a <= 55.8271))
    # NaN coordinates are "outside": they are never shifted and stay NaN.
    return bool(outside) if scalar else outside


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset in degrees at a WGS 84 point (the published polynomial + sines)."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    """WGS 84 → GCJ-02 (火星坐标), as Amap, Tencent and WeChat display it."""
    lon_a, lat_a, scalar = _arrays(lon, lat)
    dlon, dlat = _delta(lon_a, lat_a)
    return _result(lon_a + dlon, lat_a + dlat, scalar)


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 → WGS 84, iterated until every point converges to about a centimetre.

    Fixed-point iteration ``wgs ← wgs - (forward(wgs) - gcj)``: the offset changes slowly with
    position, so each step gains roughly three decimal digits and 2–4 steps suffice.
    """
    lon_a, lat_a, scalar = _arrays(lon, lat)
    wlon = lon_a.copy()
    wlat = lat_a.copy()
    for _ in range(_MAX_ITERATIONS):
        dlon, dlat = _delta(wlon, wlat)
        err_lon = wlon + dlon - lon_a
        err_lat = wlat + dlat - lat_a
        wlon = wlon - err_lon
        wlat = wlat - err_lat
        if not _unconverged(err_lon, err_lat):
            break
    return _result(wlon, wlat, scalar)


def _unconverged(err_lon: np.ndarray, err_lat: np.ndarray) -> bool:
    # NaN (a missing coordinate) never converges and must not hold the loop open.
    err = np.nan_to_num(np.abs(np.concatenate([np.ravel(err_lon), np.ravel(err_lat)])), nan=0.0)
    worst = np.max(err, initial=0.0)
    return bool(worst > _TOLERANCE_DEG)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (百度坐标). Baidu shifts everywhere; there is no out-of-China rule."""
    lon_a, lat_a, scalar = _arrays(lon, lat)
    z = np.sqrt(lon_a * lon_a + lat_a * lat_a) + 0.00002 * np.sin(lat_a * _X_PI)
    theta = np.arctan2(lat_a, lon_a) + 0.000003 * np.cos(lon_a * _X_PI)
    return _result(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def bd09_to_gcj02(lon, lat):
    """BD-09 → GCJ-02: the published closed-form inverse, then refined to about a centimetre.

    The closed form alone is off by up to ~2e-6° (20 cm); a few fixed-point steps against the
    forward transform remove that, so a BD-09 round trip is centimetre-exact.
    """
    lon_a, lat_a, scalar = _arrays(lon, lat)
    x = lon_a - 0.0065
    y = lat_a - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon = z * np.cos(theta)
    glat = z * np.sin(theta)
    for _ in range(_MAX_ITERATIONS):
        blon, blat = gcj02_to_bd09(glon, glat)
        err_lon = np.asarray(blon) - lon_a
        err_lat = np.asarray(blat) - lat_a
        glon = glon - err_lon
        glat = glat - err_lat
        if not _unconverged(err_lon, err_lat):
            break
    return _result(glon, glat, scalar)


def wgs84_to_bd09(lon, lat):
    """WGS 84 → BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    """BD-09 → WGS 84 (through GCJ-02, with the iterated inverse)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def normalise_crs(crs: str | None) -> str:
    """The canonical name of ``crs``: one of NAMED_CRS or ``EPSG:NNNN``; InvalidInput otherwise."""
    if crs is None or not str(crs).strip():
        return "cgcs2000"
    name = str(crs).strip().lower().replace("-", "").replace("_", "")
    aliases = {"wgs84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
               "cgcs2000": "cgcs2000", "epsg:4490": "cgcs2000", "4490": "cgcs2000",
               "gcj02": "gcj02", "gcj": "gcj02", "mars": "gcj02",
               "bd09": "bd09", "bd09ll": "bd09", "baidu": "bd09"}
    if name in aliases:
        return aliases[name]
    code = name.removeprefix("epsg:")
    if code.isdigit():
        _epsg_transformer(int(code))  # raises InvalidInput for an unknown code
        return f"EPSG:{int(code)}"
    raise InvalidInput(
        f"未知坐标系 {crs!r}：请使用 wgs84、cgcs2000、gcj02、bd09 或 EPSG:NNNN / "
        f"unknown crs {crs!r}: use wgs84, cgcs2000, gcj02, bd09 or EPSG:NNNN",
        details={"crs": crs},
    )


@lru_cache(maxsize=32)
def _epsg_transformer(epsg: int):
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_epsg(epsg)
    except CRSError as exc:
        raise InvalidInput(
            f"未知 EPSG 坐标系 {epsg} / unknown EPSG code {epsg}", details={"crs": f"EPSG:{epsg}"}
        ) from exc
    return Transformer.from_crs(source, CRS.from_epsg(4490), always_xy=True)


def to_storage(lon, lat, crs: str | None):
    """Convert ``(lon, lat)`` given in ``crs`` to storage coordinates (CGCS2000, EPSG:4490).

    ``crs`` is ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:NNNN`` / ``NNNN`` (for a
    projected EPSG code, ``lon``/``lat`` are its x/y). Raises InvalidInput for an unknown crs.
    """
    name = normalise_crs(crs)
    if name in ("wgs84", "cgcs2000"):
        lon_a, lat_a, scalar = _arrays(lon, lat)
        return _result(lon_a, lat_a, scalar)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    lon_a, lat_a, scalar = _arrays(lon, lat)
    x, y = _epsg_transformer(int(name.split(":")[1])).transform(lon_a, lat_a)
    return _result(np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"), scalar)


def from_storage(lon, lat, crs: str | None):
    """Convert storage coordinates (CGCS2000) to ``crs`` — the inverse of ``to_storage``."""
    name = normalise_crs(crs)
    if name in ("wgs84", "cgcs2000"):
        lon_a, lat_a, scalar = _arrays(lon, lat)
        return _result(lon_a, lat_a, scalar)
    if name == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if name == "bd09":
        return wgs84_to_bd09(lon, lat)
    lon_a, lat_a, scalar = _arrays(lon, lat)
    transformer = _epsg_transformer(int(name.split(":")[1]))
    x, y = transformer.transform(lon_a, lat_a, direction="INVERSE")
    return _result(np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"), scalar)


#: Where the service places points (west, south, east, north; CGCS2000 degrees): China's
#: 3° Gauss-Krüger zones 25–45 (EPSG:4534–4554, central meridians 75°E–135°E), in which
#: distances and areas are computed (``grid.spatial.crs``), between 3°N and 54°N.
SERVICE_AREA = (73.5, 3.0, 136.5, 54.0)


def in_service_area(lon: float, lat: float) -> bool:
    """True if the storage-CRS point lies inside :data:`SERVICE_AREA` (NaN never does)."""
    west, south, east, north = SERVICE_AREA
    return bool(west <= lon < east and south <= lat <= north)


def storage_point(lon: float, lat: float, crs: str | None) -> tuple[float, float]:
    """One input point (a report, a locate, a photo's GPS) in storage coordinates, refused
    with InvalidInput when it lies outside the service area — before anything is queried."""
    x, y = to_storage(lon, lat, crs)
    if not in_service_area(x, y):
        west, south, east, north = SERVICE_AREA
        raise InvalidInput(
            f"坐标 {lon}, {lat} 不在服务范围内（中国，东经 {west}–{east}°，北纬 {south}–{north}°）"
            f" / the point {lon}, {lat} lies outside the service area (China: {west}–{east}°E, "
            f"{south}–{north}°N); check the order of lon and lat and the crs",
            details={"lon": lon, "lat": lat, "crs": crs, "service_area": list(SERVICE_AREA)})
    return x, y
