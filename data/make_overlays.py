"""Write the sample overlays of the demo street (data/overlays/) from data/boundaries/.

Deterministic: the same files on every run. Everything is fictional; phones are 1380000xxxx.
Run: .venv/bin/python data/make_overlays.py (then `grid demo` loads them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import LineString, Point

HERE = Path(__file__).resolve().parent
STREET = "110105001"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boundaries", type=Path, default=HERE / "boundaries")
    parser.add_argument("--out", type=Path, default=HERE / "overlays")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    street = gpd.read_file(args.boundaries / "street.geojson").to_crs(4548).geometry[0]
    buildings = gpd.read_file(args.boundaries / "building.geojson").to_crs(4548)
    minx, miny, maxx, maxy = street.bounds
    cx, cy = round((minx + maxx) / 2), round((miny + maxy) / 2)
    w, h = maxx - minx, maxy - miny

    lanes = [  # code, name, kind, line in EPSG:4548 metres
        # the main roads are noded where the side roads join them, as networks are
        ("HPL-001", "和平里大街", "主干路", [(minx + 40, cy), (cx - w * 0.3, cy), (cx, cy),
                                      (cx + w * 0.25, cy), (maxx - 40, cy)]),
        ("HPL-002", "安贞路", "次干路", [(cx, miny + 40), (cx, cy - h * 0.25), (cx, cy),
                                    (cx, cy + h * 0.2), (cx, maxy - 40)]),
        ("HPL-003", "和平里东巷", "巷", [(cx + w * 0.25, cy), (cx + w * 0.25, cy + h * 0.3)]),
        ("HPL-004", "樱花西街", "支路", [(cx - w * 0.3, cy), (cx - w * 0.3, cy - h * 0.3)]),
        ("HPL-005", "小黄庄胡同", "胡同", [(cx, cy + h * 0.2), (cx - w * 0.2, cy + h * 0.2)]),
        ("HPL-006", "青年沟巷", "巷", [(cx, cy - h * 0.25), (cx + w * 0.2, cy - h * 0.25)]),
    ]
    frame = gpd.GeoDataFrame(
        {"DLBM": [c for c, *_ in lanes], "DLMC": [n for _, n, *_ in lanes],
         "DLDJ": [k for _, _, k, _ in lanes]},
        geometry=[LineString([(round(x, 1), round(y, 1)) for x, y in pts])
                  for *_, pts in lanes], crs=4548).to_crs(4490)
    _write(frame, args.out / "segments.geojson")

    chiefs = []
    people = iter(["刘建华", "陈卫东", "杨秀英", "黄志强", "周丽娟", "吴海涛", "徐桂兰", "孙立新",
                   "马红梅", "朱国庆", "胡晓燕", "郭永明", "何淑芬", "高德胜", "林春花", "罗振华",
                   "梁玉珍", "宋建军"])
    titles = {1: "区级街长 区城管委副主任", 2: "街道级街长 街道办副主任",
              3: "社区级巷长 社区党委委员"}
    for k, (code, *_rest) in enumerate(lanes):
        for tier in (1, 2, 3):
            chiefs.append({"segment_code": code, "tier": tier, "name": next(people),
                           "title": titles[tier], "phone": f"1380000{7000 + k * 10 + tier}",
                           "valid_from": "2025-01-01", "valid_to": ""})
    pd.DataFrame(chiefs).to_csv(args.out / "segment_chiefs.csv", index=False)

    project = Point(cx, cy).buffer(260, 32)
    market = Point(cx + w * 0.25, cy + h * 0.2).buffer(180, 32)
    old = Point(cx - w * 0.3, cy - h * 0.2).buffer(150, 32)
    branches = gpd.GeoDataFrame({
        "code": ["LSDZB-001", "LSDZB-002", "LSDZB-003"],
        "name": ["地铁和平里站项目临时党支部", "和平里商圈临时党支部", "樱花园改造项目临时党支部"],
        "purpose": ["project", "business_district", "project"],
        "parent_org_code": [STREET, STREET, STREET],
        "secretary": ["赵建国", "钱美华", "孙志远"],
        "contact": ["13800006001", "13800006002", "13800006003"],
        "valid_from": ["2026-01-01", "2025-05-01", "2024-03-01"],
        "valid_to": ["2027-06-30", "", "2024-12-31"],
    }, geometry=[project, market, old], crs=4548).to_crs(4490)
    branches["geometry"] = shapely.set_precision(branches.geometry.values, 1e-7)
    _write(branches, args.out / "temporary_branches.geojson")

    near = buildings[buildings.geometry.centroid.distance(Point(cx, cy)) < 400]
    heads = []
    for k, (_, b) in enumerate(near.sort_values("code").head(8).iterrows()):
        heads.append({"building_code": b["code"], "role": "楼栋长", "part": "",
                      "name": f"楼栋长{k + 1:02d}", "phone": f"1380000{8000 + k}",
                      "valid_from": "2025-01-01", "valid_to": ""})
        heads.append({"building_code": b["code"], "role": "单元长", "part": "1单元",
                      "name": f"单元长{k + 1:02d}", "phone": f"1380000{8100 + k}",
                      "valid_from": "2025-01-01", "valid_to": ""})
    pd.DataFrame(heads).to_csv(args.out / "building_heads.csv", index=False)

    school = Point(cx - w * 0.15, cy + h * 0.3).buffer(90, 16)
    units = gpd.GeoDataFrame({
        "code": ["ZQDW-001", "ZQDW-002", "ZQDW-003"],
        "name": ["和平里医院", "和平里第一中学", "安贞电力公司"],
        "kind": ["医院", "学校", "企业"],
        "street_code": [STREET] * 3,
        "party_org": ["和平里医院党委", "和平里第一中学党支部", "安贞电力公司党总支"],
        "contact": ["周院长", "吴校长", "郑经理"],
        "phone": ["13800009001", "13800009002", "13800009003"],
        "resources": ["义诊、急救培训、健康讲座", "操场错时开放、志愿者", "应急发电车、电工服务"],
        "valid_from": ["2025-01-01"] * 3, "valid_to": [""] * 3,
    }, geometry=[Point(cx + 120, cy - 160), school, Point(cx - w * 0.35, cy + 60)],
        crs=4548).to_crs(4490)
    units["geometry"] = shapely.set_precision(units.geometry.values, 1e-7)
    _write(units, args.out / "stationed_units.geojson")
    print(f"wrote {args.out}")


def _write(frame: gpd.GeoDataFrame, path: Path) -> None:
    frame["geometry"] = shapely.set_precision(frame.geometry.values, 1e-7)
    frame.to_file(path, driver="GeoJSON", COORDINATE_PRECISION=7, WRITE_NAME="NO")


if __name__ == "__main__":
    main()
