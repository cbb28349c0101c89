"""The validation report: a grid layer planted with one fault of every kind gets each named
with its code (and area where there is one), and a commit writes nothing."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import Polygon
from typer.testing import CliRunner

from grid.cli import app
from grid.demo import load_sample
from grid.errors import LoadError
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.spatial.loader import load_boundaries
from grid.spatial.validate import report_table
from tests.conftest import DATA


def _planted(tmp_path):
    """The sample grids in EPSG:4548 with faults; returns the file and what was planted."""
    grids = gpd.read_file(DATA / "grid.geojson").to_crs(4548).sort_values("code")
    grids = grids.reset_index(drop=True)
    communities = gpd.read_file(DATA / "community.geojson")
    # pick grids of different communities so one fault does not hide another
    first = grids.groupby("parent_code").head(1).index.tolist()
    bowtie, spill, shrunk, mismatch, garbled, empty = first[:6]
    second = grids.groupby("parent_code").nth(1).index.tolist()
    badcode, dup_of = second[0], second[1]
    plant = {k: grids.loc[i, "code"] for k, i in (
        ("bowtie", bowtie), ("spill", spill), ("shrunk", shrunk), ("mismatch", mismatch),
        ("garbled", garbled), ("empty", empty), ("badcode", badcode), ("dup", dup_of))}
    plant["shrunk_parent"] = grids.loc[shrunk, "parent_code"]
    plant["shrunk_geom"] = grids.loc[shrunk, "geometry"]
    x0, y0, x1, y1 = grids.loc[bowtie, "geometry"].bounds
    grids.loc[bowtie, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    grids.loc[spill, "geometry"] = grids.loc[spill, "geometry"].buffer(30)  # overlaps + spills
    grids.loc[shrunk, "geometry"] = grids.loc[shrunk, "geometry"].buffer(-15)  # leaves a gap
    other = next(c for c in communities["code"] if c != grids.loc[mismatch, "parent_code"])
    grids.loc[mismatch, "parent_code"] = other
    plant["mismatch_claimed"] = other
    grids.loc[garbled, "name"] = "鍜屽钩閲岀綉鏍"  # UTF-8 read as GBK
    grids.loc[empty, "geometry"] = Polygon()
    grids.loc[badcode, "code"] = grids.loc[badcode, "code"][:-1]  # 14 digits
    plant["badcode"] = grids.loc[badcode, "code"]
    dup = grids.loc[[dup_of]].copy()
    dup["geometry"] = dup.geometry.translate(xoff=0.0)  # same place, same code
    orphan = grids.loc[[dup_of]].copy()  # 30 km east: inside China, outside every community
    orphan["geometry"] = orphan.geometry.translate(xoff=30_000)
    orphan["code"] = plant["orphan"] = grids.loc[dup_of, "parent_code"] + "999"
    grids = gpd.GeoDataFrame(
        gpd.pd.concat([grids, dup, orphan], ignore_index=True), crs=4548)
    path = tmp_path / "planted.gpkg"
    grids.to_file(path, driver="GPKG")
    return path, plant


def _kinds(report, kind):
    return [p for p in report.problems if p.kind == kind]


def test_every_planted_fault_is_named_and_nothing_is_written(empty, tmp_path):
    load_sample(empty, DATA, say=lambda _line: None)
    path, plant = _planted(tmp_path)
    report = load_boundaries(empty.db, path, Level.grid)

    def named(kind, code, severity="error"):
        found = [p for p in _kinds(report, kind) if code in p.codes]
        assert found, f"{kind} {code} not reported: {report_table(report.problems)}"
        assert all(p.severity == severity for p in found)
        return found

    assert "Self-intersection" in named("invalid_geometry", plant["bowtie"])[0].message
    named("empty_geometry", plant["empty"])
    named("duplicate_code", plant["dup"])
    named("code_scheme", plant["badcode"])
    named("garbled_name", plant["garbled"])
    overlaps = named("sibling_overlap", plant["spill"])
    assert all(len(p.codes) == 2 and p.area_m2 > 1 for p in overlaps)
    assert any(p.area_m2 > 1000 for p in named("sibling_overlap", plant["dup"]))  # the copy
    outside = named("outside_parent", plant["spill"])[0]
    assert outside.area_m2 > 100 and outside.point is not None
    gaps = named("coverage_gap", plant["shrunk_parent"], severity="warning")
    shrunk_ring = plant["shrunk_geom"].area - plant["shrunk_geom"].buffer(-15).area
    assert any(abs(p.area_m2 - shrunk_ring) / shrunk_ring < 0.05 for p in gaps)
    named("no_parent", plant["orphan"])
    mismatch = named("parent_mismatch", plant["mismatch"])[0]
    assert plant["mismatch_claimed"] in mismatch.codes
    for p in report.problems:
        assert p.kind and p.severity in ("error", "warning") and p.codes and p.message
        if p.kind in ("sibling_overlap", "outside_parent", "coverage_gap"):
            assert p.area_m2 > 0
        if p.point is not None:  # lon/lat in Beijing
            assert 115 < p.point[0] < 118 and 39 < p.point[1] < 41
    json.dumps(report.as_json(), ensure_ascii=False)  # the JSON report serialises
    with empty.db.read() as session:
        before = [(v.id, v.is_active) for v in store.list_versions(session)]
    with pytest.raises(LoadError) as caught:
        load_boundaries(empty.db, path, Level.grid, commit=True)
    assert any("duplicate" in line for line in caught.value.details)
    with empty.db.read() as session:
        assert [(v.id, v.is_active) for v in store.list_versions(session)] == before


def test_repair_and_intended_gaps(empty, tmp_path):
    load_sample(empty, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson").to_crs(4548)
    original = grids.loc[0, "geometry"]
    ring = list(original.exterior.coords)
    inner = original.representative_point().coords[0]
    # a spike into the interior and back: self-intersecting, but make_valid gives back the
    # grid's own area, so its buildings keep their parent
    grids.loc[0, "geometry"] = Polygon([ring[0], inner, *ring])
    other = grids.index[grids["parent_code"] != grids.loc[0, "parent_code"]][0]
    park = grids.loc[other, "geometry"]
    park_community = grids.loc[other, "parent_code"]
    grids.loc[other, "geometry"] = park.buffer(-20)
    path = tmp_path / "grids.gpkg"
    grids.to_file(path, driver="GPKG")
    gaps_file = tmp_path / "park.geojson"
    gpd.GeoDataFrame({"name": ["公园"]}, geometry=[park], crs=4548).to_file(gaps_file)
    band = park.area - park.buffer(-20).area
    plain = load_boundaries(empty.db, path, Level.grid)
    assert [p.severity for p in _kinds(plain, "invalid_geometry")] == ["error"]
    assert any(park_community in p.codes and abs(p.area_m2 - band) / band < 0.05
               for p in _kinds(plain, "coverage_gap"))
    report = load_boundaries(empty.db, path, Level.grid, repair=True, intended_gaps=gaps_file)
    repaired = _kinds(report, "invalid_geometry")
    assert [p.severity for p in repaired] == ["warning"] and "repaired" in repaired[0].message
    assert not any(park_community in p.codes for p in _kinds(report, "coverage_gap"))
    assert report.errors == [], report.errors
    committed = load_boundaries(empty.db, path, Level.grid, repair=True, commit=True,
                                intended_gaps=gaps_file)
    with empty.db.read() as session:
        unit = store.get_unit(session, committed.version_id, grids.loc[0, "code"])
        shape = gpd.GeoSeries([store.shape_of(unit)], crs=4490).to_crs(4548).iloc[0]
        assert shape.is_valid and abs(shape.area - original.area) < 1


def test_cli_report_json_table_and_offline_map(empty, tmp_path, monkeypatch):
    load_sample(empty, DATA, say=lambda _line: None)
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    path, plant = _planted(tmp_path)
    page = tmp_path / "problems.html"
    runner = CliRunner()
    result = runner.invoke(app, ["load", str(path), "--level", "grid", "--json", "--map",
                                 str(page)])
    assert result.exit_code == 1, result.output  # errors: the command fails
    body = json.loads(result.output)
    kinds = {p["kind"] for p in body["problems"]}
    assert {"invalid_geometry", "empty_geometry", "duplicate_code", "code_scheme",
            "sibling_overlap", "coverage_gap", "outside_parent", "no_parent",
            "parent_mismatch", "garbled_name"} <= kinds
    assert body["committed"] is False and body["errors"] == len(body["error_list"])
    html = page.read_text("utf-8")
    assert plant["spill"] in html and "outside_parent" in html
    # opens from disk: Leaflet inlined, nothing fetched from a server or the internet
    assert "cdn.jsdelivr" not in html and "/static/vendor/" not in html
    assert 'src="data:text/javascript;base64,' in html
    table = runner.invoke(app, ["load", str(path), "--level", "grid", "--commit"])
    assert table.exit_code == 1 and "nothing was written" in table.output
    monkeypatch.setenv("COLUMNS", "250")  # the readable table, unwrapped
    shown = runner.invoke(app, ["load", str(path), "--level", "grid"])
    assert "sibling_overlap" in shown.output and plant["orphan"] in shown.output


def test_parents_and_inside_equal_point_on_surface_and_covered_by():
    """The bounding-box shortcut gives the same parent as point_on_surface (lowest code on
    shared edges) and marks as inside exactly children that covered_by would: awkward
    shapes (sharing the parent's edge, a vertex outside, an edge leaving between inside
    vertices of a concave parent, on the line between two parents, outside all, overlapping
    parents) and random boxes."""
    import numpy as np
    import shapely
    from shapely.geometry import box

    from grid.spatial.validate import parents_and_inside

    concave = Polygon([(0, 0), (10, 0), (10, 10), (6, 10), (6, 4), (4, 4), (4, 10), (0, 10)])
    parent_geoms = np.array([concave, box(10, 0, 20, 10), box(0, 10, 20, 20),
                             box(15, 15, 25, 25), box(30, 30, 31, 31)], dtype=object)
    parent_codes = ["a", "b", "c", "d", "e"]
    children = [
        box(1, 1, 2, 2),  # inside, box meets one parent
        box(8, 0, 10, 2),  # shares the parent's edges (touches b's box)
        box(1, 0, 3, 1),  # shares one edge, one box
        box(9, 1, 11, 2),  # across a and b
        box(3, 5, 7, 6),  # vertices inside the concave parent, edges leave it
        box(4.5, 5, 5.5, 6),  # in the notch: no parent covers it
        box(1, -1, 2, 1),  # a vertex outside
        box(16, 16, 17, 17),  # in two overlapping parents: lowest code
        box(40, 40, 41, 41),  # outside all
        box(10, 10, 11, 11),  # corner of three parents
        Polygon([(11, 11), (14, 11), (11, 14)]),  # triangle in c only
    ]
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-2, 26, 300), rng.uniform(-2, 26, 300)
    w = rng.choice([0.5, 1.0, 2.0, 4.0], 300)
    children += list(shapely.box(x, y, x + w, y + w))
    geoms = np.array(children, dtype=object)
    ok = np.ones(len(geoms), dtype=bool)
    ok[-1] = False  # not checked: no parent
    found, inside = parents_and_inside(geoms, ok, parent_codes, parent_geoms)

    tree = shapely.STRtree(parent_geoms)
    expected = np.full(len(geoms), None, dtype=object)
    for i in np.flatnonzero(ok):
        hits = tree.query(shapely.point_on_surface(geoms[i]), predicate="covered_by")
        if len(hits):
            expected[i] = parent_codes[min(hits)]
    assert list(found) == list(expected)
    assert found[4] is None and found[5] is None and found[8] is None
    assert found[3] == "a" and found[7] == "c" and found[-1] is None
    has = np.flatnonzero(np.not_equal(expected, None))
    codes = np.asarray(parent_codes, dtype=object)
    covers = {i: bool(shapely.covered_by(
        geoms[i], parent_geoms[np.flatnonzero(codes == expected[i])[0]])) for i in has}
    assert not inside[[i for i in range(len(geoms)) if i not in covers]].any()
    # inside only where covered_by holds; the rest are left to the exact check
    assert all(covers[i] for i in np.flatnonzero(inside))
    assert inside[0] and inside[2] and not inside[6]
    assert found[1] == "a" and not inside[1]  # b's box touches it: left to covered_by
    assert inside.sum() > 50
