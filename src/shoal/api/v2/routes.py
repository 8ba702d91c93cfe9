"""V2 inference routes: server and model metadata, health, infer, and the repository extension.

A Shoal model's V2 name is ``tenant/model`` — two path segments, which is what clients such as
tritonclient send unescaped (``/v2/models/acme/churn/infer``); ``acme%2Fchurn`` works too. The
V2 version string is a version number or an alias (``/versions/production/infer``); without one,
the default version serves (the ``production`` alias, else the latest approved version).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from shoal.access.records import Principal
from shoal.api.auth import principal
from shoal.api.errors import ERROR_RESPONSES
from shoal.api.json import JSONResponse
from shoal.api.v2.codec import HEADER_LENGTH
from shoal.api.v2.inference import answer, read_limited
from shoal.errors import InvalidRefError, ValidationError
from shoal.registry.refs import ModelRef
from shoal.serving.service import InferenceService
from shoal.version import __version__

router = APIRouter(prefix="/v2", tags=["inference (V2)"], responses=ERROR_RESPONSES)

EXTENSIONS = ["model_repository", "binary_tensor_data", "shoal_cache"]
MODEL = "/models/{tenant}/{model}"
VERSION = "/models/{tenant}/{model}/versions/{version}"


def service(request: Request) -> InferenceService:
    serving: InferenceService = request.app.state.inference
    return serving


Who = Annotated[Principal, Depends(principal)]


def visible_ref(who: Principal, tenant: str, model: str, version: str | None = None) -> ModelRef:
    """The reference, if ``who`` may see the tenant's models; else the 404 of a missing model."""
    ref = model_ref(tenant, model, version)
    who.require_visible(ref.tenant, f"model {ref.name}")
    return ref


@lru_cache(maxsize=16_384)
def model_ref(tenant: str, model: str, version: str | None = None) -> ModelRef:
    """The reference a request path names (cached: the same models are called over and over,
    and checking the names costs more than the lookup; refusals are not cached)."""
    try:
        if version is None or version == "":
            return ModelRef(tenant, model)
        if version.isdigit():
            return ModelRef(tenant, model, version=int(version))
        return ModelRef(tenant, model, alias=version)
    except ValidationError as exc:
        raise InvalidRefError(f"model {tenant}/{model} version {version!r}: {exc}") from exc


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured limit."""
    limit: int = request.app.state.max_body_bytes
    return await read_limited(request.receive, request.headers.get("content-length"), limit)


@router.get("", summary="Server metadata")
async def server_metadata() -> JSONResponse:
    return JSONResponse({"name": "shoal", "version": __version__, "extensions": EXTENSIONS})


@router.get("/health/live", summary="Server liveness (no body)", response_class=Response)
async def live() -> Response:
    return Response(status_code=200)


@router.get("/health/ready", summary="Server readiness: started, metadata and artifacts reachable")
async def ready(request: Request) -> JSONResponse:
    report = await request.app.state.telemetry.readiness.check(request.app.state.ready)
    body = {"ready": report.ready, "checks": dict(report.checks)}
    return JSONResponse(body, status_code=200 if report.ready else 503)


def _metadata(serving: InferenceService, ref: ModelRef) -> JSONResponse:
    version = serving.resolve(ref)
    signature = version.signature
    return JSONResponse(
        {
            "name": ref.name,
            "versions": [str(version.version)],
            "platform": f"shoal_{version.format}",
            "inputs": [spec.to_dict() for spec in signature.inputs],
            "outputs": [spec.to_dict() for spec in signature.outputs],
            "parameters": {"approval": version.approval.value, "aliases": list(version.aliases)},
        }
    )


@router.get(MODEL, summary="Model metadata")
async def model_metadata(request: Request, who: Who, tenant: str, model: str) -> JSONResponse:
    return _metadata(service(request), visible_ref(who, tenant, model))


@router.get(VERSION, summary="Model version metadata")
async def version_metadata(
    request: Request, who: Who, tenant: str, model: str, version: str
) -> JSONResponse:
    return _metadata(service(request), visible_ref(who, tenant, model, version))


def _ready(serving: InferenceService, ref: ModelRef) -> Response:
    return Response(status_code=200 if serving.is_ready(ref) else 400)


@router.get(MODEL + "/ready", summary="Model readiness (resident in memory)")
async def model_ready(request: Request, who: Who, tenant: str, model: str) -> Response:
    return _ready(service(request), visible_ref(who, tenant, model))


@router.get(VERSION + "/ready", summary="Model version readiness")
async def version_ready(
    request: Request, who: Who, tenant: str, model: str, version: str
) -> Response:
    return _ready(service(request), visible_ref(who, tenant, model, version))


async def _infer(request: Request, who: Principal, ref: ModelRef) -> Response:
    # Served by ``shortcut.InferShortcut`` in a running server; kept for the OpenAPI schema and
    # for apps built without the shortcut.
    if request.app.state.access is not None:
        request.app.state.access.plans.admit(who)
    body = await read_body(request)
    reply = await answer(
        service(request), ref, body, request.headers.get(HEADER_LENGTH), request.app.state.capture
    )
    return Response(reply.body, media_type=reply.media_type, headers=reply.headers)


@router.post(MODEL + "/infer", summary="Inference (default version)")
async def infer(request: Request, who: Who, tenant: str, model: str) -> Response:
    return await _infer(request, who, visible_ref(who, tenant, model))


@router.post(VERSION + "/infer", summary="Inference (version number or alias)")
async def infer_version(
    request: Request, who: Who, tenant: str, model: str, version: str
) -> Response:
    return await _infer(request, who, visible_ref(who, tenant, model, version))


@router.post("/repository/index", summary="Models in memory or being served")
async def repository_index(request: Request, who: Who) -> JSONResponse:
    who.require_admin("the repository index")
    entries = service(request).index()
    return JSONResponse(
        [
            {"name": e.name, "version": str(e.version), "state": e.state, "reason": e.reason}
            for e in entries
        ]
    )


@router.post("/repository/models/{tenant}/{model}/load", summary="Load a model now")
async def repository_load(request: Request, who: Who, tenant: str, model: str) -> JSONResponse:
    who.require_admin("loading a model")
    version = await service(request).load(model_ref(tenant, model))
    return JSONResponse({"name": f"{tenant}/{model}", "version": str(version.version)})


@router.post("/repository/models/{tenant}/{model}/unload", summary="Evict a model now")
async def repository_unload(request: Request, who: Who, tenant: str, model: str) -> JSONResponse:
    who.require_admin("unloading a model")
    version = service(request).unload(model_ref(tenant, model))
    return JSONResponse({"name": f"{tenant}/{model}", "version": str(version.version)})
