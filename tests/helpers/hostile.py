"""A corpus of hostile boundary files, generated (not committed): broken zips, zip bombs,
shapefiles missing parts, files that lie about what they are, malformed GeoJSON. Every one
must be refused by ``grid load`` and by the upload API with a clear message, writing nothing.

``corpus(folder)`` writes them and returns ``(name, path, expected)``: ``expected`` is a piece
of the message the refusal must carry (English part of the bilingual message).
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import geopandas as gpd

from tests.conftest import DATA

#: The 1 GiB .dbf of the zip bomb, inflated from about 1 MB.
BOMB_BYTES = 1024**3


def _shapefile(folder: Path, name: str = "street") -> Path:
    """The sample street as a shapefile (.shp .shx .dbf .prj .cpg) in ``folder/name/``."""
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    gpd.read_file(DATA / "street.geojson").to_file(target / f"{name}.shp",
                                                   driver="ESRI Shapefile", encoding="UTF-8")
    return target / f"{name}.shp"


def _zip(path: Path, members: dict[str, bytes | Path]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data.read_bytes() if isinstance(data, Path) else data)
    return path


def _parts(shp: Path, *suffixes: str) -> dict[str, Path]:
    return {f"{shp.stem}{s}": shp.with_suffix(s) for s in suffixes}


def _patch_central(path: Path, offset_in_entry: int, value: bytes) -> None:
    """Overwrite a field of the first central-directory entry (sizes, flags) in place."""
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x01\x02")
    data[at + offset_in_entry:at + offset_in_entry + len(value)] = value
    path.write_bytes(bytes(data))


def _bomb(path: Path, shp: Path) -> Path:
    """A shapefile zip whose .dbf inflates to BOMB_BYTES (spaces: about 1 MB packed)."""
    chunk = b" " * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, part in _parts(shp, ".shp", ".shx", ".prj").items():
            zf.write(part, name)
        with zf.open(f"{shp.stem}.dbf", "w", force_zip64=True) as out:
            for _ in range(BOMB_BYTES // len(chunk)):
                out.write(chunk)
    return path


def _geojson(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _feature(code: str, name: str, coords, geometry_type: str = "Polygon") -> dict:
    return {"type": "Feature", "properties": {"code": code, "name": name},
            "geometry": {"type": geometry_type, "coordinates": coords}}


SQUARE = [[[116.40, 39.90], [116.41, 39.90], [116.41, 39.91], [116.40, 39.91],
           [116.40, 39.90]]]


def corpus(folder: Path) -> list[tuple[str, Path, str]]:
    """Write the hostile files into ``folder``; returns ``(name, path, expected message)``."""
    folder.mkdir(parents=True, exist_ok=True)
    shp = _shapefile(folder / "parts")
    full = _parts(shp, ".shp", ".shx", ".dbf", ".prj", ".cpg")
    good_zip = _zip(folder / "good.zip", full)
    cases: list[tuple[str, Path, str]] = []

    def add(name: str, expected: str, data: bytes | str | None = None) -> Path:
        path = folder / name
        if data is not None:
            path.write_bytes(data.encode() if isinstance(data, str) else data)
        cases.append((name, path, expected))
        return path

    # -- zips that are not zips, or broken ones
    add("not_a_zip.zip", "not a valid zip", b"this is plain text, not a zip archive\n" * 20)
    add("truncated.zip", "not a valid zip", good_zip.read_bytes()[:200])
    add("empty_archive.zip", "holds no shapefile", b"PK\x05\x06" + b"\x00" * 18)
    _zip(add("only_readme.zip", "holds no shapefile"), {"README.txt": b"boundaries"})
    _zip(add("nested_zip.zip", "holds no shapefile"), {"inner.zip": good_zip})
    _zip(add("two_geojson.zip", "several boundary files"), {
        "a.geojson": (DATA / "street.geojson"), "b.geojson": (DATA / "street.geojson")})
    _zip(add("same_name_twice.zip", "same name"), {
        "a/x.geojson": (DATA / "street.geojson"), "b/x.geojson": (DATA / "street.geojson")})
    _zip(add("too_many_members.zip", "more than"), {f"f{i}.txt": b"" for i in range(1100)})
    # -- zip bombs and lying directories
    _bomb(add("bomb_dbf_1gib.zip", "zip bomb"), shp)
    _zip(add("bomb_geojson.zip", "zip bomb"), {"big.geojson": b" " * (64 * 1024**2)})
    declares_3gib = _zip(add("declares_3gib.zip", "more than the limit"), {
        "x.geojson": (DATA / "street.geojson")})
    _patch_central(declares_3gib, 24, struct.pack("<I", 3 * 1024**3))  # uncompressed size
    lies_small = _zip(add("lies_small.zip", "cannot be unpacked"), {
        "x.geojson": b"{" + b" " * (8 * 1024**2) + b"}"})
    _patch_central(lies_small, 24, struct.pack("<I", 100))
    encrypted = _zip(add("encrypted.zip", "encrypted"), {"x.geojson": (DATA / "street.geojson")})
    _patch_central(encrypted, 8, struct.pack("<H", 1))  # general purpose flag: encrypted
    # -- shapefiles missing parts
    _zip(add("no_dbf.zip", "lacks its .dbf"), _parts(shp, ".shp", ".shx", ".prj"))
    _zip(add("no_shx.zip", "lacks its .shx"), _parts(shp, ".shp", ".dbf", ".prj"))
    _zip(add("no_shp.zip", "lacks its .shp"), _parts(shp, ".dbf", ".shx", ".prj"))
    _zip(add("no_prj.zip", "has no CRS"), _parts(shp, ".shp", ".shx", ".dbf"))
    _zip(add("traversal_no_dbf.zip", "lacks its .dbf"), {
        "../../escaped.shp": shp, "../../escaped.shx": shp.with_suffix(".shx")})
    lone = folder / "lone"
    lone.mkdir()
    add("lone/street.shp", "lacks its .shx", shp.read_bytes())
    _zip(add("garbage_dbf.zip", "cannot find the code/name"), {
        **_parts(shp, ".shp", ".shx", ".prj"), f"{shp.stem}.dbf": b"\x03garbage" * 50})
    _zip(add("truncated_shp.zip", "empty geometry"), {
        **_parts(shp, ".shx", ".dbf", ".prj"), f"{shp.stem}.shp": shp.read_bytes()[:120]})
    # -- files that are not what they say
    add("empty.geojson", "empty", b"")
    add("jpeg.geojson", "not a boundary file", b"\xff\xd8\xff\xe0" + b"\x00" * 500)
    add("csv_as_geojson.geojson", "not a boundary file", "code,name\n1,a\n")
    add("grid.csv", "no geometry", "code,name,lon,lat\n110105001,x,116.4,39.9\n")
    add("fake.gpkg", "cannot read", b"SQLite format 3\x00" + b"\x00" * 200)
    add("binary.bin", "not a boundary file", bytes(range(256)) * 4)
    # -- malformed or hostile GeoJSON
    add("truncated.geojson", "cannot read", '{"type": "FeatureCollection", "features": [')
    add("nested_arrays.geojson", "cannot read",
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        '"geometry": {"type": "Polygon", "coordinates": ' + "[" * 100_000 + "]" * 100_000
        + "}}]}")
    add("null_island.geojson", "outside China", _geojson([
        _feature("110105001", "零点", [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]]])]))
    add("metres_as_degrees.geojson", "look like metres", _geojson([
        _feature("110105001", "米", [[[500000, 4400000], [501000, 4400000], [501000, 4401000],
                                     [500000, 4401000], [500000, 4400000]]])]))
    add("duplicate_codes.geojson", "", _geojson([
        _feature("110105001", "甲", SQUARE), _feature("110105001", "乙", SQUARE)]))
    add("bowtie.geojson", "", _geojson([_feature("110105001", "蝴蝶", [[
        [116.40, 39.90], [116.41, 39.91], [116.41, 39.90], [116.40, 39.91], [116.40, 39.90]]])]))
    add("null_geometry.geojson", "", _geojson([
        {"type": "Feature", "properties": {"code": "110105001", "name": "无形"},
         "geometry": None}]))
    add("huge_name.geojson", "", _geojson([_feature("110105001", "长" * 100_000, SQUARE)]))
    add("points_not_polygons.geojson", "", _geojson([
        _feature("110105001", "点", [116.4, 39.9], "Point")]))
    add("no_features.geojson", "", _geojson([]))
    return cases
