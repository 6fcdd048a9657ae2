"""Metrics in, anomalies and predictions out."""

from __future__ import annotations

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import body_of, deps_of, principal_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import BOOL, INT, NUMBER, SHORT, obj
from chimera_engine.errors import ValidationError
from chimera_engine.security.permissions import Permission

SAMPLE = obj(
    {"name": SHORT, "value": NUMBER},
    {
        "labels": {"type": "object", "additionalProperties": True},
        # seconds since the epoch: 0 up to the year 5138
        "t": {**NUMBER, "minimum": 0, "maximum": 1e11},
    },
)


async def push(request: web.Request) -> web.StreamResponse:
    result = await deps_of(request).facade.metrics.push_metrics(
        principal_of(request), body_of(request)["samples"]
    )
    return responses.ok(result, status=202)


async def list_metrics(request: web.Request) -> web.StreamResponse:
    return responses.ok(
        {"metrics": await deps_of(request).facade.metrics.list_metrics(principal_of(request))}
    )


async def detect(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        since = float(q.get("since", "0"))
        limit = min(int(q.get("limit", "100")), 1000)
    except ValueError:
        raise ValidationError("since must be a number and limit an integer") from None
    anomalies = await deps_of(request).facade.metrics.list_anomalies(
        principal_of(request), since=since, metric=q.get("metric", ""), limit=max(1, limit)
    )
    predictions = deps_of(request).predictions()[-20:]
    return responses.ok(
        {
            "anomalies": anomalies,
            "predictions": [{**p.__dict__, "message": p.message()} for p in predictions],
        }
    )


async def predict(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    crossing = await deps_of(request).facade.metrics.predict_crossing(
        principal_of(request), body["metric"], float(body["threshold"])
    )
    return responses.ok(
        {"metric": body["metric"], "threshold": body["threshold"], "crossing": crossing}
    )


async def acknowledge(request: web.Request) -> web.StreamResponse:
    try:
        anomaly_id = int(request.match_info["anomaly_id"])
    except ValueError:
        raise ValidationError("anomaly_id must be an integer") from None
    if not 0 < anomaly_id < 2**63:
        raise ValidationError("anomaly_id must be from 1 to 2^63 - 1")
    anomaly = await deps_of(request).facade.metrics.acknowledge_anomaly(
        principal_of(request), anomaly_id
    )
    return responses.ok({"anomaly": anomaly})


async def acknowledge_bulk(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    ids, everything = body.get("ids"), body.get("all", False)
    if (ids is None) == (not everything):
        raise ValidationError('give either "ids" (a list of anomaly ids) or "all": true')
    done = await deps_of(request).facade.metrics.acknowledge_anomalies(
        principal_of(request), None if everything else ids
    )
    return responses.ok({"acknowledged": [a.id for a in done]})


ROUTES = [
    Route(
        method="POST",
        path="/api/metrics",
        handler=push,
        permission=Permission.METRICS_PUSH,
        rate_class="write",
        tag="metrics",
        summary="Push a batch of metric samples",
        body=obj({"samples": {"type": "array", "items": SAMPLE, "maxItems": 5000}}),
        responses={202: "accepted"},
    ),
    Route(
        method="GET",
        path="/api/metrics/list",
        handler=list_metrics,
        permission=Permission.METRICS_READ,
        tag="metrics",
        summary="Every metric watched, with its input health",
    ),
    Route(
        method="GET",
        path="/api/anomaly/detect",
        handler=detect,
        permission=Permission.ANOMALY_READ,
        tag="metrics",
        summary="Recent anomalies and failure predictions",
        query={"since": NUMBER, "metric": SHORT, "limit": {"type": "integer"}},
    ),
    Route(
        method="POST",
        path="/api/anomaly/predict",
        handler=predict,
        permission=Permission.ANOMALY_READ,
        tag="metrics",
        summary="When a metric is forecast to cross a threshold",
        body=obj({"metric": SHORT, "threshold": NUMBER}),
    ),
    Route(
        method="POST",
        path="/api/anomaly/{anomaly_id}/acknowledge",
        handler=acknowledge,
        permission=Permission.ANOMALY_ACKNOWLEDGE,
        rate_class="write",
        tag="metrics",
        summary="Acknowledge an anomaly (audited)",
    ),
    Route(
        method="POST",
        path="/api/anomalies/acknowledge",
        handler=acknowledge_bulk,
        permission=Permission.ANOMALY_ACKNOWLEDGE,
        rate_class="write",
        tag="metrics",
        summary="Acknowledge many anomalies, or every open one, at once (audited)",
        body=obj({}, {"ids": {"type": "array", "items": INT, "maxItems": 5000}, "all": BOOL}),
    ),
]
