"""``lingting web``: the command center's pages, with the acknowledge API on the same port.

Server-rendered (Jinja2); htmx swaps a card or a list in place and ECharts draws the charts, both served from
static/vendor (no request leaves lingting). Without JavaScript the crisis feed and its buttons are plain links
and forms that post and redirect back. Figures come from pipeline/web/queries.py; the buttons call the same
sinks/notify/workflow.apply_action as the chat links.

Routes (besides those of pipeline/api.py)
  GET  /login  POST /login  POST /logout  GET /lang/{zh|en}        sign in (token → session cookie), language
  GET  /crisis  GET /crisis/cards                                   危机看板 (page, and the cards for htmx)
  POST /crisis/{alert_id}/{action}                                  acknowledge | assign | resolve (operators)
  GET  /crisis/{alert_id}                                           crisis detail
  GET  /overview  GET /drill                                        brand overview, a chart point's posts
  GET  /search  GET /kpis  GET /reports  GET /reports/{day}/{file}  search, response KPIs, sent reports
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from pipeline.api import AlertApi, PathOnlyAccessLogger, add_api_routes, api_auth
from pipeline.web import charts, queries
from pipeline.web.auth import COOKIE, Auth, User
from pipeline.web.i18n import LANGUAGES, translate
from sinks.notify import workflow
from sinks.notify.links import ACTIONS

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger("lingting.web")

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
#: the CJK font the reports draw with, also the pages' last-resort font (fetched only if no local font has a glyph)
FONTS = HERE.parent / "report" / "fonts"
WEB_KEY = web.AppKey("web", "WebApp")
USER_KEY = web.RequestKey("user", User)
LANG_COOKIE = "lingting_lang"
#: paths served without a session: assets, sign-in, and the API/links (they have their own checks)
PUBLIC = ("/static/", "/login", "/lang/", "/api/", "/act", "/posts", "/healthz", "/openapi.json", "/favicon.ico")
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class WebApp:
    """The page handlers over the AlertApi's Elasticsearch client."""

    def __init__(self, settings: Settings, api: AlertApi) -> None:
        self.settings, self.api = settings, api
        self.names = settings.elasticsearch.names
        self.auth = Auth(settings)
        self.tz_name = settings.web.timezone
        self.tz = ZoneInfo(self.tz_name)
        self.default_lang = settings.web.language or settings.language
        self.reports_dir = Path(settings.reports.dir)
        self.jinja = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
        )
        self.jinja.filters.update(
            local=self.local_time, pct=_pct, num=_num, signed=_signed, dur=_duration, q=lambda s: quote(str(s), safe="")
        )

    @property
    def es(self) -> Any:
        return self.api.es

    # ------------------------------------------------------------------ helpers
    def local_time(self, ts: Any, fmt: str = "%m-%d %H:%M") -> str:
        if not ts:
            return "—"
        dt = ts if isinstance(ts, datetime) else queries._parse(str(ts))
        return dt.astimezone(self.tz).strftime(fmt) if dt else "—"

    def lang(self, request: web.Request) -> str:
        lang = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or self.default_lang
        return lang if lang in LANGUAGES else "zh"

    def render(self, request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
        lang = self.lang(request)
        user: User | None = request.get(USER_KEY)
        text = self.jinja.get_template(name).render(
            t=lambda key, **fmt: translate(lang, key, **fmt),
            lang=lang,
            user=user,
            path=request.path,
            brand_names=[b.name for b in self.settings.brands],
            json=_json,
            **ctx,
        )
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def period(self, request: web.Request, default: str = "7d") -> tuple[queries.Period, str]:
        """``range=24h|7d|30d`` ending now, or ``from``/``to`` dates (local time)."""
        q = request.query
        if q.get("from") and q.get("to"):
            start, end = _local_date(q["from"], self.tz), _local_date(q["to"], self.tz)
            if end <= start:
                end = start + timedelta(days=1)
            return queries.Period(start, end), "custom"
        key = q.get("range") if q.get("range") in RANGES else default
        # to the minute: reloads within it ask Elasticsearch the same question, which its request cache answers
        end = queries.utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
        return queries.Period(end - RANGES[key], end), key

    def selected_brands(self, request: web.Request) -> list[str]:
        names = [b.name for b in self.settings.brands]
        chosen = [b for b in request.query.getall("brand", []) if b]
        return chosen or names[:1]

    # ------------------------------------------------------------------ auth
    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(PUBLIC):
            return await handler(request)
        user = self.auth.from_headers(request.headers.get("Authorization", ""), request.cookies.get(COOKIE))
        if user is None:
            if "text/html" in request.headers.get("Accept", "") and not request.headers.get("HX-Request"):
                return self.render(request, "login.html.j2", status=401, error=None, next=request.path_qs)
            return web.json_response({"error": "sign in first: Authorization: Bearer <token>"}, status=401)
        request[USER_KEY] = user
        return await handler(request)

    async def login_page(self, request: web.Request) -> web.Response:
        return self.render(request, "login.html.j2", error=None, next=request.query.get("next", "/crisis"))

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        name, token = str(form.get("name", "")).strip(), str(form.get("token", "")).strip()
        nxt = _safe_next(str(form.get("next", "")))
        role = self.auth.role_of(token) if token else None
        if role is None or not name:
            return self.render(request, "login.html.j2", status=401, error="bad_token", next=nxt)
        resp = web.HTTPSeeOther(nxt)
        resp.set_cookie(
            COOKIE,
            self.auth.cookie(User(name, role)),
            httponly=True,
            samesite="Strict",
            max_age=int(self.auth.ttl),
            path="/",
        )
        log.info("%s signed in as %s", name, role)
        raise resp

    async def logout(self, request: web.Request) -> web.Response:
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(COOKIE, path="/")
        raise resp

    async def set_lang(self, request: web.Request) -> web.Response:
        lang = request.match_info["lang"]
        resp = web.HTTPSeeOther(_safe_next(request.query.get("next", "/crisis")))
        if lang in LANGUAGES:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Lax")
        raise resp

    async def favicon(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "favicon.svg")

    async def index(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/crisis")

    # ------------------------------------------------------------------ crisis feed
    async def _feed(self, request: web.Request) -> dict[str, Any]:
        brand, state = request.query.get("brand") or None, request.query.get("state") or None
        docs = await queries.alerts(
            self.es, self.names, brands=[brand] if brand else None, state=state, size=self.settings.web.feed_size
        )
        return {
            "alerts": docs,
            "brand": brand or "",
            "state": state or "",
            "now": queries.utcnow(),
            "message": request.query.get("msg"),
        }

    async def crisis_feed(self, request: web.Request) -> web.Response:
        return self.render(request, "crisis.html.j2", **await self._feed(request))

    async def crisis_cards(self, request: web.Request) -> web.Response:
        return self.render(request, "_cards.html.j2", **await self._feed(request))

    async def crisis_act(self, request: web.Request) -> web.StreamResponse:
        user: User = request[USER_KEY]
        alert_id, action = request.match_info["alert_id"], request.match_info["action"]
        htmx = bool(request.headers.get("HX-Request"))
        if action not in ACTIONS:
            raise web.HTTPNotFound(text=f"unknown action {action!r}")
        if not user.may_act:
            return web.json_response({"error": "viewers may not act on alerts (sign in with api.token)"}, status=403)
        form = await request.post()
        by = str(form.get("by") or "").strip() or user.name
        error = None
        try:
            await workflow.apply_action(
                self.es,
                self.names.alerts_alias,
                alert_id,
                action,
                by,
                assignee=str(form.get("assignee") or "") or None,
                note=str(form.get("note") or "") or None,
            )
            log.info("alert %s %s by %s (web)", alert_id, action, by)
        except workflow.AlertNotFound:
            raise web.HTTPNotFound(text=f"no alert {alert_id!r}") from None
        except workflow.WorkflowError as err:
            error = str(err)
        if not htmx:
            back = _safe_next(str(form.get("next") or "/crisis"))
            sep = "&" if "?" in back else "?"
            raise web.HTTPSeeOther(
                f"{back}{sep}{urlencode({'msg': error or translate(self.lang(request), 'recorded')})}"
            )
        doc = await queries.alert(self.es, self.names, alert_id)
        return self.render(request, "_card.html.j2", a=doc, now=queries.utcnow(), error=error)

    async def crisis_detail(self, request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        doc = await queries.alert(self.es, self.names, alert_id)
        if doc is None:
            raise web.HTTPNotFound(text=f"no alert {alert_id!r}")
        detail = await queries.crisis_detail(self.es, self.names, doc, self.tz_name)
        lang = self.lang(request)
        chart = charts.crisis_volume(detail, doc, lambda k: translate(lang, k), self.tz_name)
        return self.render(
            request,
            "detail.html.j2",
            a=doc,
            d=detail,
            chart=chart,
            now=queries.utcnow(),
            message=request.query.get("msg"),
        )

    # ------------------------------------------------------------------ overview
    async def overview(self, request: web.Request) -> web.Response:
        brands = self.selected_brands(request)
        period, range_key = self.period(request)
        competitors = sorted(
            {c for b in brands for c in (getattr(self.settings.brand(b), "competitors", None) or [])} - set(brands)
        )
        data = await queries.overview(self.es, self.names, brands, competitors, period, self.tz_name)
        lang = self.lang(request)
        t = lambda k: translate(lang, k)  # noqa: E731
        drill = "/drill?" + urlencode([("brand", b) for b in brands] + [("lang", lang)])
        return self.render(
            request,
            "overview.html.j2",
            o=data,
            brands=brands,
            range_key=range_key,
            period=period,
            drill=drill,
            trend_chart=charts.sentiment_trend(data, t, period.interval(), self.tz_name),
            rivals_chart=charts.competitors(data, t),
            platform_chart=charts.platforms(data, t),
            reach_cap=queries.REACH_AUTHORS,
            q_from=request.query.get("from", ""),
            q_to=request.query.get("to", ""),
        )

    async def drill(self, request: web.Request) -> web.Response:
        """The posts behind one chart point (``from``/``to`` in ms, or a whole overview period)."""
        q = request.query
        brands = [b for b in q.getall("brand", []) if b] or None
        period = None
        if q.get("start_ms") and q.get("end_ms"):
            period = queries.Period(_from_ms(q["start_ms"]), _from_ms(q["end_ms"]))
        found = await queries.posts(
            self.es,
            self.names,
            brands=q.getall("focus", None) or brands,
            period=period,
            sentiment=q.get("sentiment") or None,
            platform=q.get("platform") or None,
            term=q.get("term") or None,
            size=20,
        )
        return self.render(request, "_posts.html.j2", found=found, title=q.get("title", ""))

    # ------------------------------------------------------------------ search / kpis / reports
    async def search(self, request: web.Request) -> web.Response:
        q = request.query
        text = q.get("q", "").strip()
        period = None
        if q.get("from") or q.get("to"):
            start = _local_date(q["from"], self.tz) if q.get("from") else datetime(2000, 1, 1, tzinfo=self.tz)
            end = _local_date(q["to"], self.tz) + timedelta(days=1) if q.get("to") else queries.utcnow()
            period = queries.Period(start, end)
        page = max(0, int(q.get("page", "0") or 0)) if q.get("page", "0").isdigit() else 0
        found = None
        if text or any(q.get(k) for k in ("brand", "sentiment", "platform", "author", "from", "to")):
            found = await queries.posts(
                self.es,
                self.names,
                brands=[q["brand"]] if q.get("brand") else None,
                period=period,
                sentiment=q.get("sentiment") or None,
                platform=q.get("platform") or None,
                author=q.get("author") or None,
                text=text or None,
                size=20,
                offset=page * 20,
                highlight=True,
            )
        return self.render(request, "search.html.j2", found=found, q=dict(q), page=page)

    async def kpis(self, request: web.Request) -> web.Response:
        period, range_key = self.period(request, default="30d")
        data = await queries.response_kpis(self.es, self.names, period)
        return self.render(
            request,
            "kpis.html.j2",
            k=data,
            range_key=range_key,
            q_from=request.query.get("from", ""),
            q_to=request.query.get("to", ""),
        )

    async def reports(self, request: web.Request) -> web.Response:
        from pipeline.report.store import list_reports

        return self.render(request, "reports.html.j2", days=list_reports(self.reports_dir))

    async def report_file(self, request: web.Request) -> web.StreamResponse:
        day, name = request.match_info["day"], request.match_info["file"]
        base = self.reports_dir.resolve()
        path = (base / day / name).resolve()
        if base not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)


def create_web_app(settings: Settings, es: Any = None) -> web.Application:
    """The command center and the acknowledge API in one aiohttp application."""
    from schemas.errors import ConfigError

    if not settings.api.token:
        raise ConfigError("lingting web needs api.token (or $LINGTING_API_TOKEN): without it nobody could sign in")
    api = AlertApi(settings, es)
    pages = WebApp(settings, api)
    app = web.Application(middlewares=[api_auth, pages.middleware])
    add_api_routes(app, api)
    app[WEB_KEY] = pages
    r = app.router
    r.add_static("/static/fonts", FONTS)
    r.add_static("/static", STATIC)
    r.add_get("/", pages.index)
    r.add_get("/favicon.ico", pages.favicon)
    r.add_get("/login", pages.login_page)
    r.add_post("/login", pages.login)
    r.add_post("/logout", pages.logout)
    r.add_get("/lang/{lang}", pages.set_lang)
    r.add_get("/crisis", pages.crisis_feed)
    r.add_get("/crisis/cards", pages.crisis_cards)
    r.add_post("/crisis/{alert_id}/{action}", pages.crisis_act)
    r.add_get("/crisis/{alert_id}", pages.crisis_detail)
    r.add_get("/overview", pages.overview)
    r.add_get("/drill", pages.drill)
    r.add_get("/search", pages.search)
    r.add_get("/kpis", pages.kpis)
    r.add_get("/reports", pages.reports)
    r.add_get("/reports/{day}/{file}", pages.report_file)
    return app


async def start_web(settings: Settings, host: str, port: int, es: Any = None) -> web.AppRunner:
    """Serve inside a running event loop (tests, the report daemon); ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(create_web_app(settings, es=es), access_log=log, access_log_class=PathOnlyAccessLogger)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def run_web(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted (``lingting web``)."""
    app = create_web_app(settings)
    host, port = host or settings.api.host, port or settings.api.port
    log.info("聆听指挥中心 command center on http://%s:%s/crisis", host, port)
    web.run_app(
        app,
        host=host,
        port=port,
        print=lambda msg: log.info("%s", msg),
        access_log=log,
        access_log_class=PathOnlyAccessLogger,
    )


# ---------------------------------------------------------------------------------------------- formatting
def _json(value: Any) -> str:
    """JSON for a <script type=application/json> block (``</`` escaped so the text cannot close the tag)."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("</", "<\\/")


def _pct(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _signed(value: Any) -> str:
    """A 环比 change: +12.3% / −4.0% / —."""
    if value is None:
        return "—"
    return f"{'+' if value >= 0 else '−'}{abs(value) * 100:.1f}%"


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _local_date(text: str, tz: ZoneInfo) -> datetime:
    """A date or date-time from a form; without an offset it is local time."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPBadRequest(text=f"not a date: {text!r} (YYYY-MM-DD)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def _from_ms(value: str) -> datetime:

    try:
        return datetime.fromtimestamp(int(float(value)) / 1000, tz=UTC)
    except ValueError:
        raise web.HTTPBadRequest(text=f"not a time in ms: {value!r}") from None


def _safe_next(value: str) -> str:
    """Only redirect within lingting (``/path``, never ``//host``)."""
    return value if value.startswith("/") and not value.startswith("//") else "/crisis"
