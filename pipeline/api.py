"""The acknowledge API (危机确认与控制): acknowledge, assign and resolve alerts, from a script (bearer token) or
from the buttons/links in a chat message (signed links, no token needed).

Served by ``lingting api`` or mounted in the worker (:func:`create_api_app`). State lives in the alert
document's ``workflow`` object in ``<prefix>-alerts`` (see sinks/notify/workflow.py); acknowledging,
assigning or resolving stops escalation. OpenAPI description: ``GET /openapi.json`` (= docs/api/openapi.json).

Routes
  GET  /healthz                                   liveness (no auth)
  GET  /openapi.json                              the API description (no auth)
  GET  /api/v1/alerts/{alert_id}                  alert + workflow                  (Bearer token)
  POST /api/v1/alerts/{alert_id}/{action}         action = acknowledge|assign|resolve (Bearer token)
  GET  /act?action=&alert=&exp=&sig=              confirmation page for a chat link  (signed link)
  POST /act                                       performs it (form: by, assignee, note + the link fields)
  GET  /posts?action=posts&alert=&exp=&sig=       the crisis' negative posts as JSON (signed link)
"""

from __future__ import annotations

import hmac
import html
import json
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from schemas.openapi import response
from sinks.notify import workflow
from sinks.notify.links import ACTIONS, verify_link

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger("lingting.api")

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"
API_KEY = web.AppKey("api", "AlertApi")

ACTION_LABEL = {"acknowledge": "确认 / Acknowledge", "assign": "认领 / Assign", "resolve": "解除 / Resolve"}


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 description of this API (also written to docs/api/openapi.json)."""
    action_body = {
        "type": "object",
        "required": ["by"],
        "properties": {
            "by": {
                "type": "string",
                "description": "Who acts (name or account), recorded in the history.",
                "example": "王经理",
            },
            "assignee": {
                "type": "string",
                "description": "Required for assign: who handles the crisis.",
                "example": "公关部-李娜",
            },
            "note": {"type": "string", "example": "已联系门店，正在核实"},
        },
    }
    workflow_schema = {
        "type": "object",
        "properties": {
            "state": {"type": "string", "enum": ["new", "acknowledged", "assigned", "resolved"]},
            "assignee": {"type": ["string", "null"]},
            "by": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string", "enum": list(ACTIONS)},
                        "by": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                        "note": {"type": ["string", "null"]},
                        "assignee": {"type": "string"},
                    },
                },
            },
        },
    }
    error = {"type": "object", "properties": {"error": {"type": "string"}}}
    alert_id = {
        "name": "alert_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Alert.id (URL-encoded), e.g. 海底捞:2026-11-20T13:00:00+00:00",
    }
    link_params = [
        {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
        for n in ("action", "alert", "exp", "sig")
    ]
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "lingting acknowledge API",
            "version": "1",
            "description": "Acknowledge, assign and resolve brand crises (危机确认与控制). "
            "Acknowledging stops escalation of a critical alert.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "api.token / $LINGTING_API_TOKEN"}
            },
            "schemas": {"ActionRequest": action_body, "Workflow": workflow_schema, "Error": error},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": response("ok")}}},
            "/api/v1/alerts/{alert_id}": {
                "get": {
                    "summary": "An alert with its workflow",
                    "parameters": [alert_id],
                    "responses": {
                        "200": response("The alert document", {"type": "object"}),
                        "401": response("missing or wrong token", error),
                        "404": response("no such alert", error),
                    },
                }
            },
            "/api/v1/alerts/{alert_id}/{action}": {
                "post": {
                    "summary": "Acknowledge, assign or resolve an alert",
                    "parameters": [
                        alert_id,
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(ACTIONS)},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActionRequest"}}},
                    },
                    "responses": {
                        "200": response(
                            "The new workflow",
                            {
                                "type": "object",
                                "properties": {
                                    "alert_id": {"type": "string"},
                                    "workflow": {"$ref": "#/components/schemas/Workflow"},
                                },
                            },
                        ),
                        "400": response("bad request (missing by/assignee)", error),
                        "401": response("missing or wrong token", error),
                        "404": response("no such alert", error),
                    },
                }
            },
            "/act": {
                "get": {
                    "summary": "Confirmation page behind a chat button (signed link)",
                    "security": [],
                    "parameters": link_params,
                    "responses": {"200": response("HTML form"), "403": response("bad link")},
                },
                "post": {
                    "summary": "Perform the action of a signed link",
                    "security": [],
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "required": ["action", "alert", "exp", "sig", "by"],
                                    "properties": {
                                        k: {"type": "string"}
                                        for k in ("action", "alert", "exp", "sig", "by", "assignee", "note")
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": response("HTML result"),
                        "400": response("invalid"),
                        "403": response("bad link"),
                        "404": response("no alert"),
                    },
                },
            },
            "/posts": {
                "get": {
                    "summary": "Negative posts of the crisis window (signed link)",
                    "security": [],
                    "parameters": link_params,
                    "responses": {"200": response("JSON list of posts"), "403": response("bad link")},
                }
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{html.escape(title)}</title>"
        "<style>body{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;max-width:520px;"
        "margin:24px auto;padding:0 16px;color:#222}input,textarea{width:100%;padding:8px;margin:4px 0 12px;"
        "box-sizing:border-box}button{background:#1677ff;color:#fff;border:0;padding:10px 18px;"
        "border-radius:4px;font-size:16px}</style></head><body>" + body + "</body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html")


def _json(data: Any) -> web.Response:
    return web.json_response(data, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def create_api_app(settings: Settings, es: Any = None) -> web.Application:
    """The aiohttp application. ``es``: an AsyncElasticsearch to use (default: one from the settings,
    created on startup and closed on cleanup)."""
    app = web.Application(middlewares=[api_auth])
    add_api_routes(app, AlertApi(settings, es))
    return app


def add_api_routes(app: web.Application, api: AlertApi) -> None:
    """The API's routes on ``app`` (also mounted by ``lingting web``: one process, one port). The app must
    have :data:`api_auth` among its middlewares."""
    app[API_KEY] = api
    app.cleanup_ctx.append(api.elasticsearch)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/openapi.json", api.openapi)
    app.router.add_get("/api/v1/alerts/{alert_id}", api.get_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/{action}", api.act_api)
    app.router.add_get("/act", api.act_page)
    app.router.add_post("/act", api.act_form)
    app.router.add_get("/posts", api.posts)


@web.middleware
async def api_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        token = request.app[API_KEY].settings.api.token
        if not token:
            return _json_error(503, "the API has no token configured (api.token / LINGTING_API_TOKEN)")
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _json_error(401, "missing or wrong bearer token")
    return await handler(request)


class AlertApi:
    """The handlers, over one Elasticsearch client: the alert document holds the workflow, so the API itself
    keeps no state and any number of instances can serve the same alerts."""

    def __init__(self, settings: Settings, es: Any = None) -> None:
        self.settings, self.es, self._own_es = settings, es, es is None
        self.alerts_alias = settings.elasticsearch.alerts_alias
        secret = settings.notify.links.secret
        self.link_secret = secret.get_secret_value() if secret else settings.api.token

    async def elasticsearch(self, app: web.Application) -> AsyncIterator[None]:
        """The client for the app's lifetime: ours is created on startup and closed on cleanup."""
        if self._own_es:
            from elasticsearch import AsyncElasticsearch

            e = self.settings.elasticsearch
            self.es = AsyncElasticsearch(**e.client_options(request_timeout=15))
        yield
        if self._own_es:
            await self.es.close()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(openapi_document(self.settings.api.public_url))

    async def get_alert(self, request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        doc = await workflow.get_alert_doc(self.es, self.alerts_alias, alert_id)
        if doc is None:
            return _json_error(404, f"no alert {alert_id!r}")
        return _json(doc["_source"])

    async def act_api(self, request: web.Request) -> web.Response:
        alert_id, action = request.match_info["alert_id"], request.match_info["action"]
        if action not in ACTIONS:
            return _json_error(404, f"unknown action {action!r} (acknowledge, assign, resolve)")
        try:
            body = await request.json()
        except ValueError:
            return _json_error(400, 'the body must be JSON: {"by": "...", "assignee": "...", "note": "..."}')
        if not isinstance(body, dict):
            return _json_error(400, "the body must be a JSON object")
        return await self._perform(
            alert_id, action, body.get("by"), body.get("assignee"), body.get("note"), html_page=False
        )

    async def _perform(
        self, alert_id: str, action: str, by: str | None, assignee: str | None, note: str | None, *, html_page: bool
    ) -> web.Response:
        try:
            wf = await workflow.apply_action(
                self.es, self.alerts_alias, alert_id, action, by or "", assignee=assignee, note=note
            )
        except workflow.AlertNotFound as err:
            return (
                _page("未找到 / not found", f"<p>{html.escape(str(err))}</p>", 404)
                if html_page
                else _json_error(404, str(err))
            )
        except workflow.WorkflowError as err:
            return (
                _page("无效请求 / invalid", f"<p>{html.escape(str(err))}</p>", 400)
                if html_page
                else _json_error(400, str(err))
            )
        log.info("alert %s %s by %s%s", alert_id, action, wf["by"], f" → {assignee}" if assignee else "")
        if html_page:
            return _page(
                "已记录 / recorded",
                f"<h2>✅ {html.escape(ACTION_LABEL[action])}</h2><p>{html.escape(alert_id)}</p>"
                f"<p>状态 state: <b>{html.escape(wf['state'])}</b> · {html.escape(wf['by'])} · "
                f"{html.escape(wf['at'])}</p>",
            )
        return _json({"alert_id": alert_id, "workflow": wf})

    def _check_link(self, params: Mapping[str, str]) -> str | None:
        """What is wrong with a signed link, or None when it is valid."""
        if not self.link_secret:
            return "links are disabled (no api.token or notify.links.secret)"
        return verify_link(
            self.link_secret,
            params.get("action", ""),
            params.get("alert", ""),
            params.get("exp", ""),
            params.get("sig", ""),
        )

    async def act_page(self, request: web.Request) -> web.Response:
        q = request.query
        if problem := self._check_link(q):
            return _page("链接无效 / invalid link", f"<p>链接无效：{html.escape(problem)}</p>", 403)
        action = q["action"]
        if action not in ACTIONS:
            return _page("链接无效 / invalid link", "<p>unknown action</p>", 403)
        hidden = "".join(
            f"<input type='hidden' name='{k}' value='{html.escape(q[k], quote=True)}'>"
            for k in ("action", "alert", "exp", "sig")
        )
        assignee = "<label>负责人 assignee<input name='assignee' required></label>" if action == "assign" else ""
        body = (
            f"<h2>{html.escape(ACTION_LABEL[action])}</h2><p>{html.escape(q['alert'])}</p>"
            f"<form method='post' action='act'>{hidden}"
            "<label>你的名字 your name<input name='by' required autofocus></label>"
            f"{assignee}<label>备注 note<textarea name='note' rows='3'></textarea></label>"
            f"<button type='submit'>{html.escape(ACTION_LABEL[action])}</button></form>"
        )
        return _page(ACTION_LABEL[action], body)

    async def act_form(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(form.get(k, "")) for k in ("action", "alert", "exp", "sig", "by", "assignee", "note")}
        if (problem := self._check_link(params)) or params["action"] not in ACTIONS:
            return _page("链接无效 / invalid link", f"<p>链接无效：{html.escape(problem or 'unknown action')}</p>", 403)
        return await self._perform(
            params["alert"],
            params["action"],
            params["by"],
            params["assignee"] or None,
            params["note"] or None,
            html_page=True,
        )

    async def posts(self, request: web.Request) -> web.Response:
        q = request.query
        if (problem := self._check_link(q)) or q.get("action") != "posts":
            return _json_error(403, f"invalid link: {problem or 'not a posts link'}")
        doc = await workflow.get_alert_doc(self.es, self.alerts_alias, q["alert"])
        if doc is None:
            return _json_error(404, f"no alert {q['alert']!r}")
        a = doc["_source"]
        resp = await self.es.search(
            index=self.settings.elasticsearch.posts_alias,
            size=100,
            sort=[{"created_at": "desc"}],
            query={
                "bool": {
                    "filter": [
                        {"term": {"brands": a["brand"]}},
                        {
                            "range": {
                                "created_at": {
                                    "gte": a.get("crisis_start") or a["window_start"],
                                    "lte": a["window_end"],
                                }
                            }
                        },
                        {"term": {"sentiment.label": "negative"}},
                    ]
                }
            },
            source_includes=["platform", "id", "text", "url", "author", "created_at", "sentiment", "metrics"],
            ignore_unavailable=True,
        )
        return _json(
            {
                "alert_id": q["alert"],
                "total": resp["hits"]["total"]["value"],
                "posts": [h["_source"] for h in resp["hits"]["hits"]],
            }
        )


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: signed chat links carry their signature there."""

    def log(self, request, response, time: float) -> None:
        self.logger.info(
            "%s %s %s → %s in %.0f ms", request.remote, request.method, request.path, response.status, time * 1000
        )


async def start_api(settings: Settings, es=None) -> web.AppRunner:
    """Serve the API inside an already running event loop (e.g. the worker); ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(create_api_app(settings, es=es), access_log=log, access_log_class=PathOnlyAccessLogger)
    await runner.setup()
    await web.TCPSite(runner, settings.api.host, settings.api.port).start()
    log.info("acknowledge API on http://%s:%s", settings.api.host, settings.api.port)
    return runner


def run_api(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the API until interrupted (``lingting api``)."""
    web.run_app(
        create_api_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        print=lambda msg: log.info("%s", msg),
        access_log=log,
        access_log_class=PathOnlyAccessLogger,
    )


def write_openapi(path: Path = OPENAPI_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(openapi_document(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
