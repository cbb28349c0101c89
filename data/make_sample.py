"""Generate the sample street 和平街道 (110105001, Chaoyang, Beijing) in ``data/boundaries/``.

Usage: ``python data/make_sample.py [--out data/boundaries] [--seed N]``. The default seed gives
byte-identical files on every run. Everything here is fictional.

Levels: 1 street, 6 communities (Voronoi cells of the street), 40 grids (Voronoi cells of each
community, 5-8 each), 600 buildings (10-20 per grid, in rows, inside their grid with a margin),
1-3 resident groups per building (CSV), one Party organisation per unit, 1-2 workers per grid.

Geometry is built in metres (EPSG:4548, CGCS2000 Gauss-Kruger CM 117E), projected to EPSG:4490
and rounded to 7 decimals (~1 cm) once, all grid boundaries together (see ``snap_coverage``);
communities and the street are unions of grids, so neighbours share identical vertices.

Numbering (DB11/T 2157: west->east, north->south inside the parent; communities likewise):
children get 001, 002, ... sorted by row, then longitude, of their ``point_on_surface``; the row
is ``floor((parent_north_lat - lat) / band)``, ``band`` being the side of a square of the
children's mean area (in degrees of latitude). Buildings go by row, then column, of their grid's
layout. Codes: street 6+3 digits, community +3, grid +3, building +3, resident group +2.
"""

import argparse
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely import affinity

STREET_CODE, STREET_NAME = "110105001", "和平街道"
GEO, METRIC = "EPSG:4490", "EPSG:4548"
GRID_SIZE = 1e-7  # 7 decimals of a degree, about 1 cm
M_PER_DEG_LAT = 111_000.0  # only for numbering rows, so an approximation is enough
N_GRIDS, N_BUILDINGS = 40, 600
MARGIN_M = 5.0  # buildings keep this distance from their grid's edge
ROW_PITCH_M, COL_PITCH_M = 45.0, 92.0  # building layout: rows ~30 m apart for sunlight
TO_M = pyproj.Transformer.from_crs(GEO, METRIC, always_xy=True)
TO_GEO = pyproj.Transformer.from_crs(METRIC, GEO, always_xy=True)
CENTRE = (116.44, 39.975)
# Street outline in metres around CENTRE, clockwise from the north-west: roads bound a street,
# so the outline is mostly straight runs with a few kinks, ~3 km east-west, ~2.5 km north-south.
OUTLINE_M = [(-1480, 1180), (-600, 1250), (-420, 1120), (350, 1160), (1380, 1240), (1500, 600),
             (1440, -150), (1530, -900), (1200, -1250), (300, -1180), (100, -1040),
             (-700, -1120), (-1450, -1200), (-1380, -300), (-1520, 350)]
COMMUNITY_NAMES = ["和平里西社区", "樱花园社区", "和平里东社区", "胜古庄社区", "青年沟社区",
                   "柳芳北里社区"]  # in code order, which is north-west to south-east
XIAOQU_ROOTS = list("樱花 和平 胜古 青年沟 柳芳 光熙 小黄庄 惠新 安华 育慧 西坝河 北土城 芍药"
                    " 民旺 安贞 裕民 东土城 太阳宫 曙光 望京".split())
XIAOQU_SUFFIXES = ["园", "家园", "北里", "南里", "东里", "西里", "嘉园", "花园", "苑"]
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN_CHARS = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红玉兰志文海燕波宁辉鹏慧淑"
                   "春晓丹颖凤成立新俊德福")
# Building styles of a 小区: (probability, floor range, metres of slab per 单元).
STYLES = [(0.55, (6, 7), 18.0), (0.25, (9, 19), 25.0), (0.20, (20, 31), 35.0)]
#: Infill buildings numbered after the one they stand beside (甲3号楼 next to 3号楼): the 小区's
#: last-numbered building takes the label, so the hotline gazetteer meets 甲/乙 as in life.
INFILL = {("安贞嘉园小区", 20): "甲3", ("望京园小区", 20): "甲5", ("小黄庄北里小区", 19): "甲2",
          ("小黄庄北里小区", 20): "乙2", ("安华园小区", 20): "甲1", ("芍药苑小区", 20): "甲12"}
#: 门牌 of the buildings facing a road: road → (小区, building label, doorplate). Buildings
#: inside an estate have none; some estates are known by a courtyard number (…号院) instead.
DOORPLATES = {
    "安贞路": [("安贞嘉园小区", "1", "2号"), ("安贞嘉园小区", "2", "4号"),
            ("安贞嘉园小区", "3", "6号"), ("安贞嘉园小区", "甲3", "甲6号"),
            ("安贞花园小区", "1", "8号"), ("安贞花园小区", "2", "10号")],
    "樱花园东街": [("育慧花园小区", "1", "1号"), ("育慧花园小区", "2", "3号"),
              ("民旺南里小区", "1", "5号"), ("民旺南里小区", "2", "9号")],
    "胜古北路": [("曙光园小区", "1", "10号"), ("曙光园小区", "2", "12号"),
             ("曙光园小区", "3", "14号"), ("安华园小区", "1", "16号"),
             ("安华园小区", "2", "18号")],
    "柳芳南街": [("芍药园小区", "1", "5号"), ("芍药园小区", "2", "7号"),
             ("和平园小区", "1", "11号")],
    "小黄庄路": [("小黄庄北里小区", "1", "1号"), ("小黄庄北里小区", "2", "3号"),
             ("小黄庄北里小区", "甲2", "3号之一"), ("小黄庄北里小区", "3", "12号")],
}
COURTYARDS = {"和平嘉园小区": "和平街15号院", "民旺苑小区": "樱花园东街7号院",
              "西坝河苑小区": "胜古北路2号院"}


def reproject(geom, transformer):
    """Return ``geom`` with every vertex passed through ``transformer`` (lon/lat <-> metres)."""
    return shapely.transform(
        geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def round_geom(geom):
    """Round coordinates to 7 decimals so they print exactly and read back as the same doubles."""
    return shapely.transform(geom, lambda xy: np.round(xy, 7))


def voronoi_partition(poly, n, rng, iterations):
    """Split ``poly`` into ``n`` Voronoi cells of random seeds, relaxed ``iterations`` times
    (Lloyd) so cells are of similar size; retry with new seeds until every cell is one polygon
    (a non-convex parent can cut a cell in two)."""
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(100):
        candidates = shapely.points(rng.uniform((minx, miny), (maxx, maxy), (20 * n, 2)))
        seeds = list(candidates[shapely.contains(poly, candidates)][:n])  # rejection sampling
        for _ in range(iterations + 1):
            diagram = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=poly)
            cells = [cell.intersection(poly) for cell in shapely.get_parts(diagram)]
            seeds = [c.centroid for c in cells]
        if len(seeds) == n and all(c.geom_type == "Polygon" for c in cells):
            return cells
    raise RuntimeError("could not partition a polygon into single-part cells")


def rebuild(polys, grid_size):
    """Node all boundaries together on a ``grid_size`` grid (snap rounding), polygonize, and
    give each input the faces it overlaps most: neighbours then share identical vertices, and
    a T-junction becomes a vertex on both sides."""
    lines = shapely.union_all(shapely.boundary(polys), grid_size=grid_size)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    owned = [[] for _ in polys]
    for face in faces:
        owned[int(np.argmax(shapely.area(shapely.intersection(face, polys))))].append(face)
    merged = [shapely.get_parts(shapely.union_all(p, grid_size=grid_size)) for p in owned]
    return [parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts) for parts in merged]


def snap_coverage(polys_m):
    """Metric polygons to one rounded lon/lat polygon each, forming an exact coverage. T-junctions
    are noded in metres first (to 1 mm): projecting bends nothing but vertices, so a T-junction
    left for later would sit millimetres off the projected edge and leave slivers. The shared
    vertices then project identically; a last noding on the 1e-7 degree grid repairs anything
    the rounding moved."""
    geo = [round_geom(reproject(p, TO_GEO)) for p in rebuild(polys_m, 1e-3)]
    return [round_geom(g) for g in rebuild(geo, GRID_SIZE)]


def number_order(geoms, parent):
    """Indices of ``geoms`` in DB11/T 2157 order: north rows first, then west to east. Rows are
    latitude bands counted from the parent's northern edge, each as high as the side of a
    square of the children's mean area (so a row holds about one child's height)."""
    band = np.sqrt(reproject(parent, TO_M).area / len(geoms)) / M_PER_DEG_LAT
    top = parent.bounds[3]
    pts = [g.point_on_surface() for g in geoms]
    return sorted(range(len(geoms)), key=lambda i: (int((top - pts[i].y) // band), pts[i].x))


def split_counts(weights, total, lo, hi, caps=None):
    """Integers proportional to ``weights``, each in [lo, min(hi, cap)], summing to ``total``."""
    caps = np.full(len(weights), hi) if caps is None else np.minimum(caps, hi)
    counts = np.clip(np.round(total * np.asarray(weights) / np.sum(weights)), lo, caps).astype(int)
    while (excess := counts.sum() - total) != 0:  # fix rounding by one, largest room first
        room = counts - lo if excess > 0 else caps - counts
        if room.max() <= 0:
            raise RuntimeError("not enough room to place every unit")
        counts[int(np.argmax(room))] -= np.sign(excess)
    return counts


def build_areas(rng):
    """Street, communities and grids as rounded lon/lat polygons with codes and names."""
    cx, cy = TO_M.transform(*CENTRE)
    street_m = shapely.Polygon([(cx + dx, cy + dy) for dx, dy in OUTLINE_M])
    communities_m = voronoi_partition(street_m, len(COMMUNITY_NAMES), rng, iterations=1)
    per_comm = split_counts([c.area for c in communities_m], N_GRIDS, 5, 8)
    cells = [(ci, cell) for ci, (comm, n) in enumerate(zip(communities_m, per_comm, strict=True))
             for cell in voronoi_partition(comm, int(n), rng, iterations=3)]
    grid_geo = snap_coverage([cell for _, cell in cells])
    members_of = [[i for i, (c, _) in enumerate(cells) if c == ci] for ci in range(len(per_comm))]
    comm_geo = [round_geom(shapely.union_all([grid_geo[i] for i in members], grid_size=GRID_SIZE))
                for members in members_of]
    street_geo = round_geom(shapely.union_all(comm_geo, grid_size=GRID_SIZE))
    street = {"code": STREET_CODE, "name": STREET_NAME, "parent_code": "", "district": "朝阳区",
              "geometry": street_geo}
    communities, grids = [], []
    for seq, ci in enumerate(number_order(comm_geo, street_geo), start=1):
        comm = {"code": f"{STREET_CODE}{seq:03d}", "name": COMMUNITY_NAMES[seq - 1],
                "parent_code": STREET_CODE, "geometry": comm_geo[ci]}
        communities.append(comm)
        members = members_of[ci]
        order = number_order([grid_geo[i] for i in members], comm["geometry"])
        for gseq, k in enumerate(order, start=1):
            grids.append({"code": f"{comm['code']}{gseq:03d}", "seq": gseq,
                          "parent_code": comm["code"], "community": comm["name"],
                          "geometry": grid_geo[members[k]]})
    return street, communities, grids


def building_spots(grid_geo, rng):
    """Candidate building footprints (metres) on a slightly rotated row layout inside a grid:
    slabs of 50-80 m x 12-16 m, each jittered a little; returned north row first, west first."""
    poly = reproject(grid_geo, TO_M)
    inner = poly.buffer(-MARGIN_M)
    angle = rng.uniform(-8, 8)  # the whole 小区 is turned a little off east-west
    centre = poly.centroid
    minx, miny, maxx, maxy = affinity.rotate(poly, -angle, origin=centre).bounds
    y0, x0 = maxy - rng.uniform(0, ROW_PITCH_M), minx + rng.uniform(0, COL_PITCH_M)
    spots = []
    for y in np.arange(y0, miny, -ROW_PITCH_M):
        for x in np.arange(x0, maxx, COL_PITCH_M):
            length, depth = rng.uniform(50, 80), rng.uniform(12, 16)
            dx, dy, turn = rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(-2, 2)
            rect = shapely.box(-length / 2, -depth / 2, length / 2, depth / 2)
            rect = affinity.rotate(affinity.translate(rect, x + dx, y + dy), turn)
            rect = affinity.rotate(rect, angle, origin=centre)
            if inner.contains(rect):
                spots.append((rect, length))
    return spots


def person(rng):
    """A plausible Chinese name: surname + one or two given-name characters."""
    given = rng.choice(GIVEN_CHARS, size=rng.integers(1, 3))
    return str(rng.choice(SURNAMES)) + "".join(given)


def build_buildings(grids, rng):
    """Place 600 buildings over the grids, name grids after their 小区, add building attributes
    and resident groups. Returns (buildings, resident_groups)."""
    spots = [building_spots(g["geometry"], rng) for g in grids]
    areas = [reproject(g["geometry"], TO_M).area * rng.uniform(0.85, 1.15) for g in grids]
    counts = split_counts(areas, N_BUILDINGS, 10, 20, caps=np.array([len(s) for s in spots]))
    pairs = rng.permutation(len(XIAOQU_ROOTS) * len(XIAOQU_SUFFIXES))
    names = iter(XIAOQU_ROOTS[p // len(XIAOQU_SUFFIXES)] + XIAOQU_SUFFIXES[p % len(XIAOQU_SUFFIXES)]
                 + "小区" for p in pairs)
    buildings, groups = [], []
    for grid, grid_spots, n in zip(grids, spots, counts, strict=True):
        chosen = [grid_spots[i] for i in sorted(rng.choice(len(grid_spots), n, replace=False))]
        two = rng.random() < 0.25  # some grids hold two 小区, split west/east
        mid = np.median([rect.centroid.x for rect, _ in chosen])
        xiaoqu = [next(names), next(names)] if two else [next(names)]
        style = {q: STYLES[rng.choice(len(STYLES), p=[s[0] for s in STYLES])] for q in xiaoqu}
        grid["xiaoqu"] = "、".join(xiaoqu)
        grid["name"] = f"{xiaoqu[0]}网格" if not two else f"{grid['community']}第{grid['seq']}网格"
        numbers = dict.fromkeys(xiaoqu, 0)
        for seq, (rect, length) in enumerate(chosen, start=1):
            q = xiaoqu[1] if two and rect.centroid.x > mid else xiaoqu[0]
            numbers[q] += 1
            _, (lo, hi), per_unit = style[q]
            floors = int(rng.integers(lo, hi))
            units = int(np.clip(round(length / per_unit), 1, 4))
            b = {"code": f"{grid['code']}{seq:03d}", "name": f"{q}{numbers[q]}号楼",
                 "parent_code": grid["code"], "floors": floors, "units": units, "xiaoqu": q,
                 "geometry": round_geom(reproject(rect, TO_GEO))}
            buildings.append(b)
            groups += resident_groups(b, numbers[q] == 1, rng)
    street_addresses(buildings, groups)
    return buildings, groups


def street_addresses(buildings, groups):
    """Rename the infill buildings (``INFILL``, with their resident groups) and give buildings
    their road, 门牌 and courtyard (``DOORPLATES``, ``COURTYARDS``). No random numbers are
    drawn, so the geometry and every other table stay as they were."""
    renamed = {}
    for b in buildings:
        number = int(b["name"].removeprefix(b["xiaoqu"]).removesuffix("号楼"))
        label = INFILL.get((b["xiaoqu"], number), str(number))
        if label != str(number):
            renamed[b["code"]] = (b["name"], f"{b['xiaoqu']}{label}号楼")
            b["name"] = renamed[b["code"]][1]
        b["label"] = label
        b["courtyard"] = COURTYARDS.get(b["xiaoqu"])
    by_label = {(b["xiaoqu"], b["label"]): b for b in buildings}
    for road, plates in DOORPLATES.items():
        for xiaoqu, label, plate in plates:
            by_label[(xiaoqu, label)].update(road=road, doorplate=plate)
    for g in groups:
        if g["building_code"] in renamed:
            old, new = renamed[g["building_code"]]
            g["name"] = g["name"].replace(old, new)


def resident_groups(building, first_in_xiaoqu, rng):
    """1-3 resident groups of a building, each a run of its 单元; the first group of a 小区's
    first building is the 小区's owners' committee (业委会)."""
    units = building["units"]
    n = int(rng.integers(1, min(3, units) + 1))
    cuts = sorted(rng.choice(np.arange(1, units), n - 1, replace=False)) if n > 1 else []
    bounds = [0, *[int(c) for c in cuts], units]
    out = []
    for k in range(n):
        first, last = bounds[k] + 1, bounds[k + 1]
        label = str(first) if first == last else f"{first}-{last}"
        name = (f"{building['xiaoqu']}业委会" if k == 0 and first_in_xiaoqu
                else f"{building['name']}{label}单元居民小组")
        out.append({"code": f"{building['code']}{k + 1:02d}", "name": name,
                    "building_code": building["code"], "units": label,
                    "households": building["floors"] * 2 * (last - first + 1)})
    return out


def people_tables(street, communities, grids, buildings, groups, rng):
    """Party organisations (one per unit) and grid workers, with fake names and phones."""
    units = [("street", "街道党工委", street, street["name"] + "党工委")]
    units += [("community", "社区党委", c, c["name"] + "党委") for c in communities]
    units += [("grid", "网格党支部", g, g["name"] + "党支部") for g in grids]
    units += [("building", "楼栋党小组", b, b["name"] + "党小组") for b in buildings]
    units += [("resident_group", "居民小组", r, r["name"]) for r in groups]
    workers = [(g["code"], "专职网格员" if k == 0 else "兼职网格员")
               for g in grids for k in range(int(rng.integers(1, 3)))]
    # Clearly fake numbers 1380000xxxx / 1390000xxxx, none used twice.
    phones = [f"13{8 + n // 10000}0000{n % 10000:04d}"
              for n in rng.choice(20000, len(units) + len(workers), replace=False)]
    orgs = pd.DataFrame([{"unit_code": u["code"], "level": level, "org_type": kind, "name": name,
                          "secretary": person(rng), "contact": phones[i]}
                         for i, (level, kind, u, name) in enumerate(units)])
    staff = pd.DataFrame([{"grid_code": code, "name": person(rng),
                           "phone": phones[len(units) + i], "role": role}
                          for i, (code, role) in enumerate(workers)])
    return orgs, staff


def write_layer(rows, columns, path):
    """Write one level as GeoJSON in EPSG:4490 with 7-decimal coordinates."""
    frame = gpd.GeoDataFrame([{k: r.get(k) for k in [*columns, "geometry"]} for r in rows],
                             geometry="geometry", crs=GEO)
    frame["geometry"] = shapely.orient_polygons(frame.geometry.values)  # CCW shells, RFC 7946
    path.unlink(missing_ok=True)
    frame.to_file(path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=7)
    return frame


def check_files(out, layers):
    """Each level's file reads back in EPSG:4490 with the same string codes and geometry, and
    every geometry is valid (in degrees and in metres) with coordinates at 7 decimals."""
    files, valid = [], []
    for lvl, frame in layers.items():
        back = gpd.read_file(out / f"{lvl}.geojson")
        if back.crs is None or back.crs.to_epsg() != 4490:
            files.append(f"{lvl}: CRS read back is {back.crs}")
        if not (pd.api.types.is_string_dtype(back["code"]) and back["code"].equals(frame["code"])):
            files.append(f"{lvl}: codes not read back as the same strings")
        if not back.geometry.geom_equals_exact(frame.geometry, tolerance=0).all():
            files.append(f"{lvl}: geometry changed on the way through the file")
        if not (back.is_valid.all() and back.to_crs(METRIC).is_valid.all()
                and (back.geom_type == "Polygon").all()):
            valid.append(f"{lvl}: invalid or multi-part geometry")
        coords = shapely.get_coordinates(back.geometry.values)
        if not np.array_equal(coords, np.round(coords, 7)):
            valid.append(f"{lvl}: coordinates not rounded to 7 decimals")
    return {"files read back (EPSG:4490, string codes, same geometry)": files,
            "geometries valid single polygons, coordinates at 7 decimals": valid}


def check_topology(layers):
    """Coverage, sibling overlaps, identical shared edges and building margins, in metres;
    the worst measured values are put into the check names for the summary."""
    metric = {lvl: frame.to_crs(METRIC) for lvl, frame in layers.items()}
    cover, overlaps, edges, inside = [], [], [], []
    worst_gap = worst_overlap = 0.0
    for child, parent in [("community", "street"), ("grid", "community")]:
        for code, whole in zip(metric[parent]["code"], metric[parent].geometry, strict=True):
            parts = metric[child][metric[child]["parent_code"] == code].geometry
            gap = shapely.union_all(parts.values).symmetric_difference(whole).area
            worst_gap = max(worst_gap, gap)
            if gap >= 1.0:
                cover.append(f"{child}s under {code} differ from it by {gap:.3f} m²")
    for lvl in ("community", "grid", "building"):
        geoms = metric[lvl].geometry.values
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = left < right
        area = shapely.area(shapely.intersection(geoms[left[keep]], geoms[right[keep]]))
        worst_overlap = max(worst_overlap, float(area.max(initial=0.0)))
        if (area > 0.01).any():
            overlaps.append(f"{lvl}: {(area > 0.01).sum()} overlaps > 0.01 m²")
        if lvl != "building" and not shapely.coverage_is_valid(layers[lvl].geometry.values):
            edges.append(f"{lvl}: shared edges do not match vertex for vertex")
    grid_of = dict(zip(metric["grid"]["code"], metric["grid"].geometry, strict=True))
    margins = []
    for code, parent, geom in metric["building"][["code", "parent_code", "geometry"]].values:
        margins.append(grid_of[parent].boundary.distance(geom))
        if not geom.within(grid_of[parent]) or margins[-1] < 2.0:
            inside.append(f"building {code} not inside grid {parent} with a 2 m margin")
    return {f"children cover their parent (worst sym. difference {worst_gap:.6f} m² < 1)": cover,
            f"no sibling overlaps (worst {worst_overlap:.6f} m² <= 0.01)": overlaps,
            "shared edges identical vertex for vertex (coverage_is_valid)": edges,
            f"buildings inside their grid (closest {min(margins):.2f} m to its edge)": inside}


def check_codes(layers, groups, orgs, staff):
    """Codes: unique, of the right width, prefixed by an existing parent; tables complete."""
    fail = []
    rows = [(c, p, lvl) for lvl, f in layers.items() for c, p in
            zip(f["code"], f["parent_code"], strict=True)]
    rows += [(g["code"], g["building_code"], "resident_group") for g in groups]
    widths = {"street": 9, "community": 12, "grid": 15, "building": 18, "resident_group": 20}
    known = {c for c, _, _ in rows}
    if len(known) != len(rows):
        fail.append("duplicate codes")
    for code, parent, lvl in rows:
        if len(code) != widths[lvl] or not code.isdigit():
            fail.append(f"{code}: not {widths[lvl]} digits")
        if lvl != "street" and not (parent in known and code.startswith(parent)
                                    and len(parent) == len(code) - (2 if len(code) == 20 else 3)):
            fail.append(f"{code}: parent {parent} missing or not its prefix")
    per_building = pd.Series([g["building_code"] for g in groups]).value_counts()
    if len(per_building) != len(layers["building"]) or not per_building.between(1, 3).all():
        fail.append("not 1-3 resident groups for every building")
    if sorted(orgs["unit_code"]) != sorted(known):
        fail.append("party_orgs.csv does not hold exactly one organisation per unit")
    per_grid = staff.groupby("grid_code").size()
    if set(per_grid.index) != set(layers["grid"]["code"]) or not per_grid.between(1, 2).all():
        fail.append("grid_workers.csv does not hold 1-2 workers for every grid")
    return fail


def main(argv=None):
    """Generate, write and check the sample; exit 1 if a check fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "boundaries")
    ap.add_argument("--seed", type=int, default=2157)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    street, communities, grids = build_areas(rng)
    buildings, groups = build_buildings(grids, rng)
    orgs, staff = people_tables(street, communities, grids, buildings, groups, rng)
    args.out.mkdir(parents=True, exist_ok=True)
    base = ["code", "name", "parent_code"]
    layers = {"street": write_layer([street], [*base, "district"], args.out / "street.geojson"),
              "community": write_layer(communities, base, args.out / "community.geojson"),
              "grid": write_layer(grids, [*base, "xiaoqu"], args.out / "grid.geojson"),
              "building": write_layer(buildings, [*base, "floors", "units", "xiaoqu", "road",
                                                         "doorplate", "courtyard"],
                                      args.out / "building.geojson")}
    for name, table in [("resident_groups", pd.DataFrame(groups)), ("party_orgs", orgs),
                        ("grid_workers", staff)]:  # UTF-8 without BOM, LF line ends
        table.to_csv(args.out / f"{name}.csv", index=False, encoding="utf-8", lineterminator="\n")
    results = {**check_files(args.out, layers), **check_topology(layers),
               "codes unique, right width, prefixed by parent; tables complete":
                   check_codes(layers, groups, orgs, staff)}
    area = reproject(street["geometry"], TO_M).area / 1e6
    households = sum(g["households"] for g in groups)
    print(f"seed {args.seed} -> {args.out}")
    print(f"street 1 ({area:.2f} km²), communities {len(communities)}, grids {len(grids)}, "
          f"buildings {len(buildings)}, resident groups {len(groups)} "
          f"({households} households), party orgs {len(orgs)}, grid workers {len(staff)}")
    per_grid = pd.Series([b["parent_code"] for b in buildings]).value_counts()
    print("grids per community:", [sum(g["parent_code"] == c["code"] for g in grids)
                                   for c in communities],
          f"buildings per grid: {per_grid.min()}-{per_grid.max()}")
    for name, problems in results.items():
        print(f"{'FAIL' if problems else 'ok  '} {name}")
        for line in problems[:10]:
            print("     ", line)
    failed = sum(bool(p) for p in results.values())
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
