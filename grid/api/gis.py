"""GIS staff over HTTP (roles ``gis`` and ``admin``): upload a boundary file and get the
validation report (a dry run), commit it by a second call; diff versions, roll back, and place
an incident against any version without changing the owners it keeps.

The uploaded file stays server-side under a temporary folder named by the upload id, with the
options it was checked with, so the commit loads exactly what the report described. The folder
goes once the upload is committed or discarded, at once when its report has errors (it could
never be committed), and after ``UPLOAD_TTL`` when it is simply left behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession
from grid.errors import Forbidden, InvalidInput, NotFound
from grid.hierarchy import versions
from grid.hierarchy.levels import parse_level
from grid.spatial.loader import load_boundaries
from maps.problems import problems_data

router = APIRouter(prefix="/api/v1/gis", tags=["gis"])

#: Where uploads wait for their commit (one folder per upload id).
UPLOAD_ROOT = Path(tempfile.gettempdir()) / "grid-uploads"
SUFFIXES = (".zip", ".gpkg", ".geojson", ".json")
_ID = re.compile(r"^[0-9a-f]{32}$")
#: Seconds an uncommitted upload is kept.
UPLOAD_TTL = 24 * 3600


class CommitRequest(BaseModel):
    """Where to write an upload: a new version (default) or an inactive one."""

    version: int | None = None
    label: str | None = None


def _require_gis(user) -> None:
    if user.role not in ("gis", "admin"):
        raise Forbidden(f"角色 {user.role} 不能导入边界 role {user.role} cannot load boundaries "
                        "(gis or admin only)")


def _options(level: str, code_field, name_field, parent_field, encoding, crs, layer,
             repair) -> dict[str, Any]:
    parse_level(level)  # refuse an unknown level before storing anything
    return {"level": level, "code_field": code_field, "name_field": name_field,
            "parent_field": parent_field, "encoding": encoding, "crs": crs, "layer": layer,
            "repair": repair}


def _sweep(now: float | None = None) -> None:
    """Remove uploads left uncommitted for longer than UPLOAD_TTL."""
    if not UPLOAD_ROOT.exists():
        return
    cutoff = (now or time.time()) - UPLOAD_TTL
    for folder in UPLOAD_ROOT.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # removed meanwhile by another request
            continue


def _claim(upload_id: str) -> Path:
    """Take an upload for a commit or a discard: renamed atomically, so two requests cannot
    both load it."""
    folder = UPLOAD_ROOT / upload_id
    claimed = UPLOAD_ROOT / f"{upload_id}.claimed-{uuid.uuid4().hex[:8]}"
    if not _ID.match(upload_id) or not (folder / "options.json").exists():
        raise NotFound(f"上传 {upload_id} 不存在 upload {upload_id} not found")
    try:
        os.rename(folder, claimed)
    except FileNotFoundError:
        raise NotFound(f"上传 {upload_id} 不存在 upload {upload_id} not found") from None
    return claimed


def _load(svc, folder: Path, options: dict[str, Any], **extra: Any) -> dict[str, Any]:
    source = next(p for p in folder.iterdir() if p.name != "options.json")
    opts = {k: v for k, v in options.items() if k != "level"}
    report = load_boundaries(svc.db, source, parse_level(options["level"]), **opts, **extra)
    # the problems and the units they name as GeoJSON, for the report page's map
    return {**report.as_json(), "map": problems_data(report.problems, report.unit_shapes,
                                                     svc.settings.language)}


@router.post("/uploads", summary="Upload a boundary file; returns the dry-run report")
def upload(
    svc: Svc, user: CurrentUser, file: UploadFile,
    level: Annotated[str, Form()],
    code_field: Annotated[str | None, Form()] = None,
    name_field: Annotated[str | None, Form()] = None,
    parent_field: Annotated[str | None, Form()] = None,
    encoding: Annotated[str | None, Form()] = None,
    crs: Annotated[str | None, Form()] = None,
    layer: Annotated[str | None, Form()] = None,
    repair: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Keep the file under a new upload id and validate it (nothing is written)."""
    _require_gis(user)
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput(f"不支持的文件类型 unsupported file type '{suffix}': expected "
                           f"{', '.join(SUFFIXES)} (zip a shapefile's parts)")
    options = _options(level, code_field, name_field, parent_field, encoding, crs, layer,
                       repair)
    _sweep()
    upload_id = uuid.uuid4().hex
    folder = UPLOAD_ROOT / upload_id
    folder.mkdir(parents=True)
    try:
        with (folder / f"upload{suffix}").open("wb") as out:
            shutil.copyfileobj(file.file, out)
        (folder / "options.json").write_text(json.dumps({**options, "user": user.name}),
                                             "utf-8")
        report = _load(svc, folder, options)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing to commit later
        raise
    if report["errors"]:
        shutil.rmtree(folder, ignore_errors=True)  # a commit would be refused: nothing kept
        return {"upload_id": None, "report": report}
    return {"upload_id": upload_id, "report": report}


@router.post("/uploads/{upload_id}/commit", summary="Commit a checked upload")
def commit(upload_id: str, body: CommitRequest, svc: Svc, user: CurrentUser) -> dict[str, Any]:
    """Load the upload for real (all or nothing) into a new or given inactive version. The
    upload is gone afterwards, committed or not (a refused commit leaves nothing to retry
    that would not be refused again; upload the corrected file)."""
    _require_gis(user)
    folder = _claim(upload_id)
    try:
        options = json.loads((folder / "options.json").read_text("utf-8"))
        options.pop("user", None)
        report = _load(svc, folder, options, commit=True, version_id=body.version,
                       label=body.label)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"upload_id": upload_id, "report": report}


@router.delete("/uploads/{upload_id}", summary="Discard an upload", status_code=204)
def discard(upload_id: str, user: CurrentUser) -> None:
    """Drop an upload that will not be committed."""
    _require_gis(user)
    shutil.rmtree(_claim(upload_id), ignore_errors=True)


@router.get("/versions/{old}/diff/{new}", summary="Diff two boundary versions")
def diff(old: int, new: int, session: ReadSession, user: CurrentUser) -> dict[str, Any]:
    """Units added, removed and changed (with % of area changed) by level."""
    _require_gis(user)
    return {level: d.as_dict() for level, d in versions.diff(session, old, new).items()}


@router.get("/versions/{old}/diff/{new}/geojson", summary="Diff two versions as a map")
def diff_map(old: Annotated[int, PathParam(ge=1, le=2_147_483_647)],
             new: Annotated[int, PathParam(ge=1, le=2_147_483_647)],
             session: ReadSession, user: CurrentUser,
             level: Annotated[list[str] | None, Query(max_length=5)] = None) -> dict[str, Any]:
    """The units added, removed and changed between two versions, as GeoJSON features whose
    ``change`` property colours them (removed units drawn with their old shape)."""
    _require_gis(user)
    for name in level or ():
        parse_level(name)
    return versions.diff_features(session, old, new, level)


@router.post("/versions/rollback", summary="Re-activate the previous version")
def rollback(svc: Svc, session: WriteSession, user: CurrentUser) -> dict[str, Any]:
    """Make the previously active version active again."""
    _require_gis(user)
    version = versions.rollback(session)
    svc.places.invalidate()
    return {"active": version.id}


@router.get("/incidents/{incident_id}/placement", summary="Place an incident in a version")
def placement(incident_id: int, version: int, session: ReadSession,
              user: CurrentUser) -> dict[str, Any]:
    """Where an incident falls in ``version``, next to the owners it keeps (nothing changes)."""
    from grid.incidents.models import Incident

    incident = session.get(Incident, incident_id)
    if incident is None or not user.covers(incident.grid_code):
        raise NotFound(f"事件 {incident_id} 不存在 incident {incident_id} not found")
    return versions.placement_in(session, incident, version)
