"""The monthly report for download (导出报表): supervisors and auditors, any month, one format at a time.

The file is made on request by the same code as ``callmon export`` (the same figures, the same
formats) in a temporary directory that is removed once it has been sent.  Numbers are masked as
the user's role sees them (and always where ``[export] mask_numbers`` says so).  Each download is
an audit row.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from callmon.export.run import export_month, previous_month
from callmon.store.accounts import Principal
from callmon.store.decisions import audit
from callmon.timeutil import PeriodError, month_range
from callmon.web.pages import render
from callmon.web.security import DB, masks, not_found, require

router = APIRouter(include_in_schema=False)
EXPORTERS = ("supervisor", "auditor")
MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf",
         "zip": "application/zip"}


@router.get("/exports")
def exports_page(request: Request, month: str | None = None,
                 who: Principal = Depends(require(*EXPORTERS, page=True))) -> HTMLResponse:
    cfg = request.app.state.config
    chosen = month or previous_month(cfg.tz)
    try:
        month_range(chosen, cfg.tz)
    except PeriodError:
        chosen = previous_month(cfg.tz)
    return render(request, "exports.html", who, month=chosen, site=cfg.site.name, timezone=cfg.site.timezone)


@router.get("/exports/{month}.{fmt}")
def download(month: str, fmt: str, request: Request, who: Principal = Depends(require(*EXPORTERS, page=True)),
             session: Session = DB) -> Response:
    cfg = request.app.state.config
    try:
        month_range(month, cfg.tz)
    except PeriodError:
        raise not_found() from None
    if fmt not in ("xlsx", "pdf", "zip"):
        raise not_found()
    work = Path(tempfile.mkdtemp(prefix="callmon-export-"))
    try:
        mask = cfg.export.mask_numbers or masks(request, who)
        result = export_month(request.app.state.engine, cfg, month, ["csv"] if fmt == "zip" else [fmt], work,
                              mask=mask, parallel=False)
        audit(session, who.username, who.role, "export", reason=f"{month} {fmt}" + ("（号码已遮蔽）" if mask else ""))
        session.commit()
        path = result.files[0]
        if fmt == "zip":  # the CSV files, one per part, as one download
            path = work / path.name.replace("-summary.csv", "-csv.zip")
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for part in result.files:
                    zf.write(part, part.name)
        return FileResponse(path, media_type=MEDIA[fmt], filename=path.name,
                            background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

