"""What a boundary file is, decided from its content and checked before anything reads it —
the one gate the CLI (``grid load``) and the upload API both pass through
(:func:`grid.spatial.loader.load_boundaries`).

* The kind comes from the first bytes, not the name (zip, GeoPackage, shapefile, GeoJSON,
  KML, FlatGeobuf; CSV for resident groups): a ``.txt`` holding GeoJSON is GeoJSON
  to both; a ``.zip`` that is not a zip, or a ``.geojson`` that is a JPEG, is refused by both.
* A zip is checked from its directory before a byte is inflated: the declared sizes against
  ``max_bytes`` and each member's ratio against ``max_ratio`` (a 1 MB zip whose ``.dbf``
  inflates to 1 GiB is refused at once). Only the members a loader needs are then inflated, a
  chunk at a time, into a private folder, and never beyond their declared size (a member that
  lies about its size fails its CRC instead), so memory stays bounded whatever the file.
* A shapefile must come with its ``.shx`` (index) and ``.dbf`` (attributes); each missing
  part gets its own message. (A missing ``.prj`` is asked for by the reader, which knows
  whether ``--crs`` was given.)
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grid.errors import LoadError

#: The kinds of boundary file, with the suffix their reader expects.
SUFFIX = {"zip": ".zip", "gpkg": ".gpkg", "geojson": ".geojson", "shp": ".shp", "csv": ".csv",
          "kml": ".kml", "fgb": ".fgb"}
#: Shapefile parts a load uses (the rest of a zip — .xml, .sbn, readme — is left packed).
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
#: Files a zip may hold that are loaded by themselves.
SINGLE_FILES = (".geojson", ".json", ".gpkg", ".kml", ".fgb")
#: Most members a zip may list (a shapefile is 3–8 files; a folder of levels a few dozen).
MAX_MEMBERS = 1000
#: The parts a shapefile cannot be read without, and what each holds.
_PARTS = {".shx": ("索引", "the index"), ".dbf": ("属性表", "the attribute table")}
#: Bytes inflated at a time.
_CHUNK = 1 << 20

_GEOJSON_TYPES = (b'"type"', b'"features"', b'"geometry"', b'"coordinates"')
#: The root element of a KML document (with or without a namespace prefix).
_KML = re.compile(rb"<(?:\w+:)?kml[\s>]")


def sniff(path: Path) -> str:
    """The kind of a file from its first bytes: ``zip``, ``gpkg``, ``shp``, ``geojson`` or
    ``csv``; LoadError for anything else (an empty file, an image, a zip that is not one)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head:
        raise LoadError(f"{path.name}: 文件为空 the file is empty")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if path.suffix.lower() == ".zip":
        raise LoadError(f"{path.name}: 不是有效的 zip 文件 is not a valid zip file (its first "
                        "bytes are not a zip's)")
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head[:4] == b"\x00\x00\x27\x0a":  # the shapefile main file's code, 9994 big-endian
        return "shp"
    if head[:3] == b"fgb" and head[4:7] == b"fgb":  # FlatGeobuf: "fgb", major, "fgb", patch
        return "fgb"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{") and any(key in head for key in _GEOJSON_TYPES):
        return "geojson"
    if text.startswith(b"<") and _KML.search(head):  # KML: XML whose root is <kml>
        return "kml"
    if path.suffix.lower() in (".csv", ".txt") and b"\x00" not in head:
        return "csv"
    named = path.suffix.lower() or "(no suffix)"
    raise LoadError(
        f"{path.name}: 内容不是可识别的边界文件（{named}）the content is not a boundary file this "
        "service reads: expected a zipped shapefile (.zip), a GeoPackage (.gpkg), GeoJSON, KML "
        "or FlatGeobuf (.fgb)",
        details={"file": path.name, "suffix": named})


@contextmanager
def readable(path: str | Path, *, max_bytes: int, max_ratio: float,
             tabular: bool = False) -> Iterator[Path]:
    """``path`` checked, as a path the readers can open: the file itself, the same file under
    the suffix of its real kind, or the needed members of a zip inflated into a private
    folder (removed on exit). ``tabular`` accepts a CSV (resident groups). LoadError for a
    file that cannot be loaded, before anything reads it."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"文件不存在 file not found: {path}")
    if path.is_dir():
        _check_shapefile_parts(path, sorted(p.name for p in path.iterdir()))
        yield path
        return
    size = path.stat().st_size
    if size > max_bytes:
        raise LoadError(f"{path.name}: 文件 {size} 字节，超过上限 {max_bytes} the file is {size} "
                        f"bytes, more than the limit of {max_bytes}",
                        details={"size": size, "max_bytes": max_bytes})
    kind = sniff(path)
    if kind == "csv" and not tabular:
        raise LoadError(f"{path.name}: 文本表格没有几何，只有居民小组可用 CSV a CSV has no "
                        "geometry: only resident groups load from one")
    if tabular and kind != "csv":
        raise LoadError(f"{path.name}: 居民小组应为 CSV 表格 resident groups load from a CSV "
                        "(code, name, building_code)")
    if kind == "shp":
        _check_shapefile_parts(path.parent, [p.name for p in path.parent.iterdir()],
                               stem=path.stem)
    with tempfile.TemporaryDirectory(prefix="grid-load-") as tmp:
        if kind == "zip":
            yield _unzip(path, Path(tmp), max_bytes=max_bytes, max_ratio=max_ratio)
        elif path.suffix.lower() == SUFFIX[kind] or (kind == "geojson"
                                                      and path.suffix.lower() == ".json"):
            yield path
        else:  # the reader goes by the name: give it the name of what the file is
            alias = Path(tmp) / f"{path.stem or 'upload'}{SUFFIX[kind]}"
            alias.symlink_to(path.resolve())
            yield alias


def _unzip(path: Path, folder: Path, *, max_bytes: int, max_ratio: float) -> Path:
    """Inflate the loadable members of the zip ``path`` into ``folder``, after checking the
    zip's directory; returns what to read (the folder of a shapefile, or the one file)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LoadError(f"{path.name}: 不是有效的 zip 文件 is not a valid zip file ({exc})"
                        ) from None
    # messages name the folder: name it as the zip (without dots: a reader takes "x.zip/"
    # for a zip)
    folder = folder / (path.stem.replace(".", "_") or "upload")
    folder.mkdir()
    with archive:
        members = _members(path, archive, max_bytes, max_ratio)
        for info in members:
            _inflate(path, archive, info, folder / Path(info.filename).name)
    names = sorted(p.name for p in folder.iterdir())
    shapefiles = [n for n in names if n.lower().endswith(".shp")]
    if shapefiles:
        _check_shapefile_parts(folder, names)
        return folder
    singles = [n for n in names if n.lower().endswith(SINGLE_FILES)]
    if len(singles) == 1:
        return folder / singles[0]
    if not singles:
        dbfs = [n for n in names if n.lower().endswith((".dbf", ".shx"))]
        if dbfs:
            stem = Path(dbfs[0]).stem
            raise LoadError(f"{path.name}: 缺少 {stem}.shp（几何）the shapefile {stem} lacks its "
                            ".shp (the geometries): zip the .shp, .shx, .dbf, .prj and .cpg "
                            "together", details={"missing": ".shp"})
        raise LoadError(f"{path.name}: zip 中没有边界文件 the zip holds no shapefile, "
                        "GeoPackage or GeoJSON")
    raise LoadError(f"{path.name}: zip 中有多个边界文件 the zip holds several boundary files "
                    f"({', '.join(singles)}): upload one at a time")


def _members(path: Path, archive: zipfile.ZipFile, max_bytes: int,
             max_ratio: float) -> list[zipfile.ZipInfo]:
    """The members worth inflating, once the directory's sizes and ratios pass."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise LoadError(f"{path.name}: zip 含 {len(infos)} 个文件，过多 the zip lists "
                        f"{len(infos)} files, more than {MAX_MEMBERS}")
    wanted = [i for i in infos if not i.is_dir() and _wanted(i.filename)]
    total = sum(i.file_size for i in wanted)
    if total > max_bytes:
        raise LoadError(
            f"{path.name}: 解压后 {total} 字节，超过上限 {max_bytes} the zip would inflate to "
            f"{total} bytes, more than the limit of {max_bytes}",
            details={"inflated": total, "max_bytes": max_bytes})
    for info in wanted:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > max_ratio:
            raise LoadError(
                f"{path.name}: {info.filename} 压缩比 {ratio:.0f}:1 超过上限 {max_ratio:.0f}:1 "
                f"inflates {ratio:.0f} times its packed size, more than {max_ratio:.0f}: "
                "refused as a possible zip bomb",
                details={"member": info.filename, "ratio": round(ratio),
                         "max_ratio": max_ratio})
        if info.flag_bits & 0x1:
            raise LoadError(f"{path.name}: {info.filename} 已加密 is encrypted: zip it without "
                            "a password")
    names = [Path(i.filename).name.lower() for i in wanted]
    if len(set(names)) != len(names):
        raise LoadError(f"{path.name}: zip 中有同名文件 the zip holds two files of the same name "
                        "in different folders: upload one boundary file at a time")
    return wanted


def _wanted(name: str) -> bool:
    base = Path(name).name
    return bool(base) and not base.startswith(("._", "~")) and \
        base.lower().endswith(SHAPEFILE_PARTS + SINGLE_FILES)


def _inflate(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Inflate one member a chunk at a time; zipfile stops at the declared size and checks the
    CRC, so a member that lies about its size fails here instead of filling the disk."""
    try:
        with archive.open(info) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError,
            ValueError) as exc:
        raise LoadError(f"{path.name}: {info.filename} 无法解压 cannot be unpacked ({exc})"
                        ) from None


def _check_shapefile_parts(folder: Path, names: list[str], stem: str | None = None) -> None:
    """Each shapefile in ``names`` (or only ``stem``'s) has its .shx and .dbf."""
    by_name = {n.lower(): n for n in names}
    stems = [Path(n).stem for n in names if n.lower().endswith(".shp")]
    if stem is not None:
        stems = [stem]
    if not stems:
        return
    for shp in stems:
        for part, (zh, en) in _PARTS.items():
            if f"{shp.lower()}{part}" not in by_name:
                raise LoadError(
                    f"{shp}.shp 缺少 {part}（{zh}）the shapefile {shp} lacks its {part} ({en}): "
                    "zip the .shp, .shx, .dbf, .prj and .cpg together",
                    details={"shapefile": shp, "missing": part})
