"""The one Drive call darkroom's seed made, so `darkroom call` has something real to reach: files.get."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.http import ApiError, endpoint
from emulator.world import DRIVE_APPDATA, AccessToken, Google

FOLDER = "application/vnd.google-apps.folder"


@endpoint("drive.files.get", scopes=(DRIVE_APPDATA, "https://www.googleapis.com/auth/drive"))
async def get_file(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    if request.path_params["file_id"] not in ("appfolder", "appDataFolder"):
        raise ApiError(404, f"File not found: {request.path_params['file_id']}.")
    return JSONResponse(
        {"kind": "drive#file", "id": f"appdata-{token.sub}", "name": "appDataFolder", "mimeType": FOLDER}
    )


routes = [Route("/drive/v3/files/{file_id}", get_file, methods=["GET"])]
