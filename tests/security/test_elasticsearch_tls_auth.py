"""Elasticsearch over TLS with basic auth and an API key, through ElasticsearchSettings.client_options().

The local node runs without x-pack security (its modules are not on Maven Central), so a real TLS-terminating
aiohttp proxy in front of the real node checks the credentials: Basic for one user, ApiKey for one key, 401
otherwise. The clients under test are the project's: the Elasticsearch client built from client_options()."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import threading
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from pipeline.stack.certs import make_certs
from schemas.settings import ElasticsearchSettings

pytestmark = pytest.mark.integration

# the elasticsearch client encodes Basic credentials as ASCII
USER, PASSWORD = "lingting-ops", "s3cret-pass"
API_KEY = base64.b64encode(b"key-id:key-secret").decode()


class AuthProxy:
    """HTTPS on 127.0.0.1 (a free port), forwarding to the real node when the Authorization header is right."""

    def __init__(self, upstream: str, certfile: Path, keyfile: Path) -> None:
        self.upstream, self.seen = upstream.rstrip("/"), []
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

    def _authorized(self, header: str) -> bool:
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return header in (basic, f"ApiKey {API_KEY}")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        self.seen.append(header.split(" ")[0] if header else "")
        if not self._authorized(header):
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Basic realm="lingting"', "X-Elastic-Product": "Elasticsearch"}
            )
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "authorization", "content-length")
        }
        async with self.session.request(
            request.method, self.upstream + request.path_qs, data=body or None, headers=headers
        ) as resp:
            payload = await resp.read()
            out = {
                k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "x-elastic-product", "warning")
            }
            return web.Response(status=resp.status, body=payload, headers=out)

    async def _start(self) -> None:
        self.session = ClientSession()
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def __enter__(self) -> AuthProxy:
        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._start())
            self.ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            await self.runner.cleanup()
            await self.session.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def proxy(stack, tmp_path_factory):
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    with AuthProxy(stack["es"], certs.cert, certs.key) as running:
        running.certs = certs
        yield running


def _client(**section):
    from elasticsearch import Elasticsearch

    return Elasticsearch(**ElasticsearchSettings.model_validate(section).client_options(request_timeout=30))


def test_basic_auth_over_tls_with_the_ca_bundle(proxy) -> None:
    es = _client(url=f"https://127.0.0.1:{proxy.port}", username=USER, password=PASSWORD, ca_certs=str(proxy.certs.ca))
    try:
        assert es.info()["version"]["number"]
    finally:
        es.close()
    assert proxy.seen[-1] == "Basic"


def test_api_key_from_a_file_with_the_fingerprint(proxy, tmp_path: Path) -> None:
    key_file = tmp_path / "es-api-key"
    key_file.write_text(API_KEY + "\n")
    # fingerprint pinning: no CA bundle, the node's certificate itself is trusted
    es = _client(
        url=f"https://127.0.0.1:{proxy.port}",
        api_key_file=str(key_file),
        ssl_assert_fingerprint=proxy.certs.fingerprint,
    )
    try:
        assert es.cluster.health()["status"] in ("green", "yellow")
    finally:
        es.close()
    assert proxy.seen[-1] == "ApiKey"


def test_password_from_the_environment(proxy, monkeypatch) -> None:
    monkeypatch.setenv("LINGTING_ES_PASSWORD", PASSWORD)
    es = _client(url=f"https://127.0.0.1:{proxy.port}", username=USER, ca_certs=str(proxy.certs.ca))
    try:
        assert es.info()["tagline"]
    finally:
        es.close()


def test_wrong_password_is_refused_and_not_logged(proxy, caplog) -> None:
    from elasticsearch import AuthenticationException

    caplog.set_level(logging.DEBUG)
    es = _client(
        url=f"https://127.0.0.1:{proxy.port}", username=USER, password="wrong-pass-xyz", ca_certs=str(proxy.certs.ca)
    )
    try:
        with pytest.raises(AuthenticationException):
            es.info()
    finally:
        es.close()
    assert "wrong-pass-xyz" not in caplog.text


def test_an_unknown_ca_is_refused(proxy, tmp_path: Path) -> None:
    from elasticsearch import ConnectionError as EsConnectionError

    other = make_certs(tmp_path / "other")
    es = _client(url=f"https://127.0.0.1:{proxy.port}", username=USER, password=PASSWORD, ca_certs=str(other.ca))
    try:
        with pytest.raises(EsConnectionError):
            es.info()
    finally:
        es.close()


def test_secrets_never_show_in_the_settings_repr() -> None:
    section = ElasticsearchSettings(url="https://es:9200", username=USER, password=PASSWORD, api_key=API_KEY)
    text = repr(section) + str(section.model_dump())
    assert PASSWORD not in text and API_KEY not in text
