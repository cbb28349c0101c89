"""``grid place``: files in CSV, Parquet and GeoPackage are placed row for row like
geopandas.sjoin (lowest code on shared edges), bad rows are reported and kept, other CRSs are
converted, and the dask.distributed path writes the identical file."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from grid.cli import app
from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.place import Placer, place_file
from grid.spatial import chinacrs
from grid.spatial.distributed import place_distributed

BAD = [("abc", "39.97", "not a number"), ("", "", "missing"), ("200", "39.97", "longitude"),
       ("116.44", "95", "latitude")]


@pytest.fixture(scope="module")
def placer(demo) -> Placer:
    with demo.db.read() as session:
        return Placer.from_db(session)


@pytest.fixture(scope="module")
def units(demo) -> dict[Level, gpd.GeoDataFrame]:
    """Each level's polygons as a GeoDataFrame, for the geopandas.sjoin reference."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        return {level: gpd.GeoDataFrame(
            {"code": [u.code for u in store.units(session, version, level)]},
            geometry=[store.shape_of(u) for u in store.units(session, version, level)],
            crs="EPSG:4490") for level in SPATIAL_LEVELS}


@pytest.fixture(scope="module")
def points(units) -> pd.DataFrame:
    """Random points over the street and its surroundings, every 7th grid vertex (shared
    vertices and edges), and the bad rows, with extra columns that must come out unchanged."""
    rng = np.random.default_rng(12345)
    minx, miny, maxx, maxy = units[Level.street].total_bounds
    n = 3000
    lon = rng.uniform(minx - 0.002, maxx + 0.002, n)
    lat = rng.uniform(miny - 0.002, maxy + 0.002, n)
    vertices = shapely.get_coordinates(units[Level.grid].geometry.to_numpy())[::7]
    lon, lat = np.r_[lon, vertices[:, 0]], np.r_[lat, vertices[:, 1]]
    frame = pd.DataFrame({"case_id": [f"C{i:05d}" for i in range(len(lon))],
                          "lon": [repr(float(v)) for v in lon],
                          "lat": [repr(float(v)) for v in lat],
                          "note": "井盖缺失, \"quoted\""})
    bad = pd.DataFrame({"case_id": [f"B{i}" for i in range(len(BAD))],
                        "lon": [b[0] for b in BAD], "lat": [b[1] for b in BAD], "note": "bad"})
    # Bad rows in the middle of the file: they must keep their place.
    return pd.concat([frame.iloc[:1000], bad, frame.iloc[1000:]], ignore_index=True)


def _sjoin_reference(frame: pd.DataFrame, units) -> dict[Level, np.ndarray]:
    """geopandas.sjoin per level (covered_by), lowest code where several units cover a point."""
    lon = pd.to_numeric(frame["lon"], errors="coerce")
    lat = pd.to_numeric(frame["lat"], errors="coerce")
    ok = lon.between(-180, 180) & lat.between(-90, 90)
    pts = gpd.GeoDataFrame({"row": np.flatnonzero(ok)},
                           geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs="EPSG:4490")
    result = {}
    for level, polys in units.items():
        joined = gpd.sjoin(pts, polys, how="left", predicate="covered_by")
        joined = joined.sort_values(["row", "code"]).drop_duplicates("row", keep="first")
        codes = np.full(len(frame), "", dtype=object)
        codes[joined["row"].to_numpy()] = joined["code"].fillna("").to_numpy()
        result[level] = codes
    return result


def test_csv_agrees_with_geopandas_sjoin_row_for_row(placer, units, points, tmp_path):
    source, out = tmp_path / "cases.csv", tmp_path / "placed.csv"
    points.to_csv(source, index=False)
    summary = place_file(placer, source, out, chunk_rows=700, progress=False)
    placed = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert placed["case_id"].tolist() == points["case_id"].tolist()  # every row, in order
    assert placed["note"].tolist() == points["note"].tolist()
    reference = _sjoin_reference(points, units)
    for level in SPATIAL_LEVELS:
        assert placed[f"{level.value}_code"].tolist() == reference[level].tolist(), level
    assert summary.rows == len(points) and summary.bad == len(BAD)
    assert (placed["grid_code"] != "").sum() > 1000  # most points placed: not vacuous
    assert (placed["building_code"] != "").sum() > 50
    # Each bad row says why, and is neither placed nor called "outside".
    bad = placed[placed["case_id"].str.startswith("B")]
    for (_, row), (_, _, why) in zip(bad.iterrows(), BAD, strict=True):
        assert why in row["problem"] and row["grid_code"] == "" and row["outside"] == "false"
    good = placed[placed["problem"] == ""]
    assert ((good["grid_code"] == "") == (good["outside"] == "true")).all()
    assert summary.outside == (good["outside"] == "true").sum() > 0
    # Branch names come with every placed grid; grid vertices lie on edges.
    assert good.loc[good["grid_code"] != "", "grid_party_branch"].str.endswith("党支部").all()
    assert placed.loc[placed["case_id"].str[1:].astype(int) >= 3000, "on_edge"].eq("true").all()


def test_parquet_and_geopackage_give_the_same_codes(placer, points, tmp_path):
    csv_out = tmp_path / "a.csv"
    points.to_csv(tmp_path / "in.csv", index=False)
    place_file(placer, tmp_path / "in.csv", csv_out, progress=False)
    expected = pd.read_csv(csv_out, dtype=str, keep_default_na=False)["grid_code"].tolist()

    good = points[~points["case_id"].str.startswith("B")].copy()
    good[["lon", "lat"]] = good[["lon", "lat"]].astype(float)
    good.to_parquet(tmp_path / "in.parquet", index=False)
    place_file(placer, tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_rows=500,
               progress=False)
    from_parquet = pd.read_parquet(tmp_path / "out.parquet")
    keep = ~points["case_id"].str.startswith("B").to_numpy()
    assert from_parquet["grid_code"].tolist() == np.array(expected, dtype=object)[keep].tolist()

    gdf = gpd.GeoDataFrame(good.drop(columns=["lon", "lat"]),
                           geometry=gpd.points_from_xy(good["lon"], good["lat"]), crs=4490)
    gdf.to_file(tmp_path / "in.gpkg", layer="cases")
    place_file(placer, tmp_path / "in.gpkg", tmp_path / "out.gpkg", chunk_rows=500,
               progress=False)
    from_gpkg = gpd.read_file(tmp_path / "out.gpkg")
    assert from_gpkg["grid_code"].fillna("").tolist() == from_parquet["grid_code"].tolist()
    assert from_gpkg.crs.to_epsg() == 4490


def test_gcj02_file_lands_where_the_wgs84_file_does(placer, points, tmp_path):
    good = points[~points["case_id"].str.startswith("B")].copy()
    lon, lat = good["lon"].astype(float).to_numpy(), good["lat"].astype(float).to_numpy()
    good.to_csv(tmp_path / "wgs.csv", index=False)
    glon, glat = chinacrs.wgs84_to_gcj02(lon, lat)
    shifted = good.assign(x=glon, y=glat).drop(columns=["lon", "lat"])
    shifted.to_csv(tmp_path / "gcj.csv", index=False)
    place_file(placer, tmp_path / "wgs.csv", tmp_path / "wgs_out.csv", progress=False)
    place_file(placer, tmp_path / "gcj.csv", tmp_path / "gcj_out.csv", lon_col="x",
               lat_col="y", crs="gcj02", progress=False)
    wgs = pd.read_csv(tmp_path / "wgs_out.csv", dtype=str, keep_default_na=False)
    gcj = pd.read_csv(tmp_path / "gcj_out.csv", dtype=str, keep_default_na=False)
    # Vertices recovered to ~1e-9° may fall either side of an edge; interior points must agree.
    interior = wgs["on_edge"] == "false"
    assert (wgs.loc[interior, "grid_code"] == gcj.loc[interior, "grid_code"]).all()
    assert np.allclose(gcj["lon_cgcs2000"].astype(float), lon, atol=1e-7)


def test_dask_local_cluster_gives_identical_output(placer, points, tmp_path):
    source = tmp_path / "cases.csv"
    points.to_csv(source, index=False)
    place_file(placer, source, tmp_path / "single.csv", chunk_rows=1000, progress=False)
    summary = place_distributed(placer, source, tmp_path / "dask.csv", scheduler="local",
                                workers=1, processes=False, chunk_rows=1000, progress=False)
    assert summary.rows == len(points) and summary.bad == len(BAD)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "single.csv").read_bytes()
    # GeoPackage input goes through dask_geopandas.read_file: same bytes again.
    good = points[~points["case_id"].str.startswith("B")]
    gpd.GeoDataFrame(good.drop(columns=["lon", "lat"]), crs=4490, geometry=gpd.points_from_xy(
        good["lon"].astype(float), good["lat"].astype(float))).to_file(tmp_path / "in.gpkg")
    place_file(placer, tmp_path / "in.gpkg", tmp_path / "single_g.csv", chunk_rows=800,
               progress=False)
    place_distributed(placer, tmp_path / "in.gpkg", tmp_path / "dask_g.csv", workers=1,
                      processes=False, chunk_rows=800, progress=False)
    assert (tmp_path / "dask_g.csv").read_bytes() == (tmp_path / "single_g.csv").read_bytes()


def test_cli_place(demo, points, tmp_path, monkeypatch):
    monkeypatch.setenv("GRID_DATABASE_URL", demo.settings.database_url)
    points.to_csv(tmp_path / "in.csv", index=False)
    result = CliRunner().invoke(app, ["place", str(tmp_path / "in.csv"), "--out",
                                      str(tmp_path / "out.parquet")])
    assert result.exit_code == 0, result.output
    placed = pd.read_parquet(tmp_path / "out.parquet")
    assert len(placed) == len(points)
    assert str(len(points)) in result.output and str(len(BAD)) in result.output
    bad = CliRunner().invoke(app, ["place", str(tmp_path / "in.csv"), "--out",
                                   str(tmp_path / "x.csv"), "--crs", "nowhere"])
    assert bad.exit_code == 1 and "nowhere" in bad.output


def test_parquet_batches_placed_as_arrow_equal_the_dataframe_path(demo, points, tmp_path):
    """Parquet with numeric coordinates goes through ``Placer.place_table`` (Arrow, no pandas):
    every column — codes, branch, coordinates, flags, problems, overlays — equals what
    ``place_frame`` gives for the same rows, missing and out-of-range coordinates included;
    a Parquet file with text coordinates still goes through ``place_frame``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with demo.db.read() as session:
        placer = Placer.from_db(session, overlays_within_m=50.0)
    frame = points.copy()
    frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce")  # "abc" and "" become NaN
    frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce")
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    batch = pq.read_table(tmp_path / "in.parquet")
    arrow = placer.place_table(batch)
    expected = pa.Table.from_pandas(placer.place_frame(frame), preserve_index=False)
    assert arrow is not None and arrow.column_names == expected.column_names
    for name in expected.column_names:
        assert arrow.column(name).equals(expected.column(name).cast(arrow.column(name).type)), name
    assert pc_count(arrow, "problem") == len(BAD)  # "abc" and "" are missing, 200, 95
    summary = place_file(placer, tmp_path / "in.parquet", tmp_path / "out.parquet",
                         chunk_rows=700, progress=False)
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.select(expected.column_names).equals(arrow)
    assert summary.rows == len(points) and summary.bad == len(BAD)
    assert summary.placed == int((expected.column("grid_code").to_numpy(
        zero_copy_only=False) != "").sum()) > 1000
    # Text coordinates: the DataFrame path, which says which cell is not a number.
    points.to_parquet(tmp_path / "text.parquet", index=False)
    assert placer.place_table(pq.read_table(tmp_path / "text.parquet")) is None
    place_file(placer, tmp_path / "text.parquet", tmp_path / "text_out.parquet",
               progress=False)
    problems = pd.read_parquet(tmp_path / "text_out.parquet")["problem"]
    assert problems.str.contains("not a number").sum() == 1


def pc_count(table, name: str) -> int:
    """Rows of ``table`` whose text column ``name`` is not empty."""
    import pyarrow.compute as pc

    return int(pc.sum(pc.not_equal(table.column(name), "")).as_py())
