"""GIS staff over HTTP (roles ``gis`` and ``admin``): upload a boundary file and get the
validation report (a dry run), commit it by a second call; diff versions, roll back, and place
an incident against any version without changing the owners it keeps.

Committing, activating and rolling back replace the whole city's boundaries at once, so they
need a scope covering every street (``grid.scope.require_city``); a dry-run upload does not.

The uploaded file stays server-side under a temporary folder named by the upload id, with the
options it was checked with, so the commit loads exactly what the report described. The folder
goes once the upload is committed or discarded, at once when its report has errors (it could
never be committed), and after ``UPLOAD_TTL`` when it is simply left behind. With more than one
host behind a load balancer the commit may reach another host than the upload did:
``GRID_UPLOADS_DIR`` then names a directory every host mounts (as ``GRID_ATTACHMENTS_DIR``).
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

from fastapi import APIRouter, Depends, Form, Query, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel

from grid.api.deps import ApiScope, CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.api.limits import RowId, text
from grid.errors import Forbidden, InvalidInput, NotFound
from grid.hierarchy import store, versions
from grid.hierarchy.levels import Level, parse_level
from grid.scope import Scope, require_city
from grid.spatial.loader import load_boundaries
from maps.problems import problems_data

router = APIRouter(prefix="/api/v1/gis", tags=["gis"],
                   dependencies=[Depends(api_scope)])

#: Where uploads wait for their commit (one folder per upload id) unless GRID_UPLOADS_DIR
#: says: this host's temporary directory.
UPLOAD_ROOT = Path(tempfile.gettempdir()) / "grid-uploads"
#: A suffix kept on the stored upload (its content decides its kind: grid.spatial.inputs).
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
_ID = re.compile(r"^[0-9a-f]{32}$")
#: An upload's id (32 hex digits) and a field, layer, encoding or CRS name of a form.
UploadId = text(40)
Field = text(100)
#: Seconds an uncommitted upload is kept.
UPLOAD_TTL = 24 * 3600


class CommitRequest(BaseModel):
    """Where to write an upload: a new version (default) or an inactive one."""

    version: RowId | None = None
    label: text(200) | None = None


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


def _root(svc) -> Path:
    """Where this deployment keeps uploads: GRID_UPLOADS_DIR, else UPLOAD_ROOT."""
    return svc.settings.uploads_dir or UPLOAD_ROOT


def _sweep(root: Path, now: float | None = None) -> None:
    """Remove uploads left uncommitted for longer than UPLOAD_TTL."""
    if not root.exists():
        return
    cutoff = (now or time.time()) - UPLOAD_TTL
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # removed meanwhile by another request
            continue


def _claim(root: Path, upload_id: str, user) -> Path:
    """Take an upload for a commit or a discard: renamed atomically, so two requests cannot
    both load it. An upload is its uploader's (or an admin's) to commit or discard."""
    folder = root / upload_id
    claimed = root / f"{upload_id}.claimed-{uuid.uuid4().hex[:8]}"
    if not _ID.match(upload_id) or not (folder / "options.json").exists():
        raise NotFound(f"上传 {upload_id} 不存在 upload {upload_id} not found")
    try:
        owner = json.loads((folder / "options.json").read_text("utf-8")).get("user")
    except (FileNotFoundError, ValueError):
        raise NotFound(f"上传 {upload_id} 不存在 upload {upload_id} not found") from None
    if owner != user.name and user.role != "admin":
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
    level: Annotated[Level, Form()],
    code_field: Annotated[Field | None, Form()] = None,
    name_field: Annotated[Field | None, Form()] = None,
    parent_field: Annotated[Field | None, Form()] = None,
    encoding: Annotated[Field | None, Form()] = None,
    crs: Annotated[Field | None, Form()] = None,
    layer: Annotated[Field | None, Form()] = None,
    repair: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Keep the file under a new upload id and validate it (nothing is written). Its content
    decides what it is — a zipped shapefile, a GeoPackage or GeoJSON — as for ``grid load``."""
    _require_gis(user)
    suffix = Path(file.filename or "").suffix.lower()
    suffix = suffix if _SUFFIX.match(suffix) else ""
    options = _options(level.value, code_field, name_field, parent_field, encoding, crs, layer,
                       repair)
    _sweep(_root(svc))
    upload_id = uuid.uuid4().hex
    folder = _root(svc) / upload_id
    folder.mkdir(parents=True)
    try:
        _keep(file.file, folder / f"upload{suffix}", svc.settings.load_max_bytes)
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


def _keep(source, target: Path, max_bytes: int) -> None:
    """Copy an uploaded file, refusing it once it passes ``max_bytes``."""
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > max_bytes:
                raise InvalidInput(f"文件超过 {max_bytes} 字节 the file is larger than the limit "
                                   f"of {max_bytes} bytes", details={"max_bytes": max_bytes})
            out.write(chunk)


@router.post("/uploads/{upload_id}/commit", summary="Commit a checked upload")
def commit(upload_id: UploadId, body: CommitRequest, svc: Svc, user: CurrentUser) -> dict[str, Any]:
    """Load the upload for real (all or nothing) into a new or given inactive version. The
    upload is gone afterwards, committed or not (a refused commit leaves nothing to retry
    that would not be refused again; upload the corrected file)."""
    _require_gis(user)
    with svc.db.read() as session:  # a version replaces the whole city (grid.scope)
        active = store.active_version(session)
        require_city(session, Scope.of(user), [active and active.id, body.version],
                     "提交边界 committing boundaries")
    folder = _claim(_root(svc), upload_id, user)
    try:
        options = json.loads((folder / "options.json").read_text("utf-8"))
        options.pop("user", None)
        report = _load(svc, folder, options, commit=True, version_id=body.version,
                       label=body.label)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"upload_id": upload_id, "report": report}


@router.delete("/uploads/{upload_id}", summary="Discard an upload", status_code=204)
def discard(upload_id: UploadId, svc: Svc, user: CurrentUser) -> None:
    """Drop an upload that will not be committed."""
    _require_gis(user)
    shutil.rmtree(_claim(_root(svc), upload_id, user), ignore_errors=True)


@router.get("/versions/{old}/diff/{new}", summary="Diff two boundary versions")
def diff(old: RowId, new: RowId, session: ReadSession, user: CurrentUser) -> dict[str, Any]:
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
    require_city(session, Scope.of(user), [store.active_version_id(session),
                                           versions.previous_version(session).id],
                 "回滚边界 rolling back boundaries")
    version = versions.rollback(session)
    svc.places.invalidate()
    return {"active": version.id}


@router.get("/incidents/{incident_id}/placement", summary="Place an incident in a version")
def placement(incident_id: RowId, version: RowId, session: ReadSession,
              scope: ApiScope) -> dict[str, Any]:
    """Where an incident falls in ``version``, next to the owners it keeps (nothing changes);
    only for an incident the caller may see (``grid.scope``)."""
    from grid.incidents.models import Incident

    incident = session.get(Incident, incident_id)
    if incident is None or not scope.sees(incident):
        raise NotFound(f"事件 {incident_id} 不存在 incident {incident_id} not found")
    return versions.placement_in(session, incident, version)
