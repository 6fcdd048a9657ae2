"""LLM patches over HTTP: generate, list, show, approve, reject."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import body_of, deps_of, principal_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import SHORT, STRING, obj
from chimera_engine.errors import ValidationError
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.security.permissions import Permission


def patch_json(patch: Patch, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": patch.id,
        "module": patch.module,
        "base_version": patch.base_version,
        "state": patch.state.value,
        "risk": patch.risk,
        "provider": patch.provider,
        "model": patch.model,
        "replay": patch.replay,
        "input_tokens": patch.input_tokens,
        "output_tokens": patch.output_tokens,
        "cost_usd": patch.cost_usd,
        "created_at": patch.created_at,
        "updated_at": patch.updated_at,
        "reason": patch.reason,
        "applied_version": patch.applied_version,
        "diff_hash": patch.diff_hash,
    }
    if full:
        data.update(
            diff=patch.diff, tests=patch.tests, rationale=patch.rationale, result=patch.result
        )
    return data


def _patch_id(request: web.Request, body: dict[str, Any] | None = None) -> int:
    try:
        return int(request.match_info["patch_id"])
    except ValueError:
        raise ValidationError("patch_id must be an integer") from None


def _patch_target(request: web.Request, body: dict[str, Any]) -> str:
    return f"patch:{_patch_id(request)}"


async def generate(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    outcome = await deps_of(request).facade.patches.request_patch(
        principal_of(request), body["module"], note=body.get("note", "")
    )
    report = outcome.report
    return responses.ok(
        {
            "ok": report.ok,
            "patch": patch_json(outcome.patch, full=True) if outcome.patch else None,
            "attempts": report.attempts,
            "reasons": report.reasons,
            "provider": report.provider,
            "model": report.model,
            "replay": report.replay,
            "cost_usd": report.cost_usd,
        },
        status=201 if outcome.patch else 422,
    )


async def list_patches(request: web.Request) -> web.StreamResponse:
    states_text = request.query.get("state", "")
    try:
        states = tuple(PatchState(s) for s in states_text.split(",") if s)
    except ValueError:
        raise ValidationError(f"unknown state in {states_text!r}") from None
    patches = await deps_of(request).facade.patches.list_patches(
        principal_of(request), states=states
    )
    return responses.ok({"patches": [patch_json(p) for p in patches]})


async def list_attempts(request: web.Request) -> web.StreamResponse:
    failed = request.query.get("failed", "")
    if failed not in ("", "true", "false"):
        raise ValidationError("failed must be true or false")
    attempts = await deps_of(request).facade.patches.list_attempts(
        principal_of(request),
        failed_only=failed == "true",
        module=request.query.get("module") or None,
    )
    return responses.ok({"attempts": attempts})


async def show(request: web.Request) -> web.StreamResponse:
    patch, events = await deps_of(request).facade.patches.get_patch(
        principal_of(request), _patch_id(request)
    )
    return responses.ok({"patch": patch_json(patch, full=True), "events": events})


async def approve(request: web.Request) -> web.StreamResponse:
    patch = await deps_of(request).facade.patches.approve_patch(
        principal_of(request), _patch_id(request)
    )
    return responses.ok({"patch": patch_json(patch)})


async def reject(request: web.Request) -> web.StreamResponse:
    patch = await deps_of(request).facade.patches.reject_patch(
        principal_of(request), _patch_id(request), body_of(request)["reason"]
    )
    return responses.ok({"patch": patch_json(patch)})


ROUTES = [
    Route(
        method="POST",
        path="/api/llm/generate",
        handler=generate,
        permission=Permission.PATCH_GENERATE,
        rate_class="llm",
        tag="patches",
        summary="Ask the configured model for a tested patch of a module",
        body=obj({"module": SHORT}, {"note": STRING}),
        responses={201: "a patch was proposed", 422: "no usable patch"},
    ),
    Route(
        method="GET",
        path="/api/patches",
        handler=list_patches,
        permission=Permission.PATCH_READ,
        tag="patches",
        summary="The review queue",
        query={"state": SHORT},
    ),
    Route(
        method="GET",
        path="/api/llm/attempts",
        handler=list_attempts,
        permission=Permission.PATCH_READ,
        tag="patches",
        summary="Every answer asked of the model, usable or not (newest first); "
        "null tokens: not reported by the server",
        query={"failed": SHORT, "module": SHORT},
    ),
    Route(
        method="GET",
        path="/api/patches/{patch_id}",
        handler=show,
        permission=Permission.PATCH_READ,
        tag="patches",
        summary="A patch: diff, tests, sandbox results, history",
    ),
    Route(
        method="POST",
        path="/api/patches/{patch_id}/approve",
        handler=approve,
        permission=Permission.PATCH_APPROVE,
        rate_class="write",
        tag="patches",
        summary="Approve a ready patch and apply it (a capability for patch:ID also works)",
        capability=_patch_target,
    ),
    Route(
        method="POST",
        path="/api/patches/{patch_id}/reject",
        handler=reject,
        permission=Permission.PATCH_APPROVE,
        rate_class="write",
        tag="patches",
        summary="Reject a patch, saying why",
        body=obj({"reason": SHORT}),
        capability=_patch_target,
    ),
]
