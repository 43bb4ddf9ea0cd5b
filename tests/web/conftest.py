"""One stack session for the web tests: the demo scenario loaded through the worker's chain into a fresh index
prefix, the command center served on a free port in a thread, and one headless Chromium (Debian's, through its
chromedriver) signed in as an operator."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.demo import DEMO_DIR
from pipeline.stack.config import free_port

OPERATOR_TOKEN = "operator-token-for-tests"
VIEWER_TOKEN = "viewer-token-for-tests"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def web_settings(stack: dict[str, str], tmp_path_factory) -> Any:
    from pipeline.settings import settings_from_dict

    data = yaml.safe_load((DEMO_DIR / "lingting.yaml").read_text(encoding="utf-8"))
    prefix = f"w{uuid.uuid4().hex[:10]}"
    data.update(
        {
            "elasticsearch": {"url": stack["es"], "index_prefix": prefix},
            "kafka": {"bootstrap": stack["kafka"], "topic_prefix": prefix},
            "api": {"token": OPERATOR_TOKEN},
            "web": {"viewer_token": VIEWER_TOKEN},
            "reports": {"dir": str(tmp_path_factory.mktemp("reports"))},
        }
    )
    return settings_from_dict(data, "web tests")


@pytest.fixture(scope="session")
def demo_data(web_settings) -> Any:
    """The bundled demo stream (4 h, five brands, one 海底捞 crisis) in Elasticsearch, with its alerts."""
    from elasticsearch import AsyncElasticsearch

    from pipeline.web import sample_data

    async def run():
        es = AsyncElasticsearch(web_settings.elasticsearch.url, request_timeout=60)
        try:
            return await sample_data.load(es, web_settings, DEMO_DIR / "scenario.yaml", seed=7)
        finally:
            await es.close()

    loaded = asyncio.run(run())
    assert loaded.alerts, "the demo crisis raised no alert"
    return loaded


class ServerThread:
    """The aiohttp app in its own event loop on a thread, like ``lingting web`` in its own process."""

    def __init__(self, settings) -> None:
        self.settings, self.port = settings, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from pipeline.web.app import start_web

        asyncio.set_event_loop(self.loop)
        self.runner = self.loop.run_until_complete(start_web(self.settings, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        assert self.ready.wait(30), "the web server did not start"
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def server(web_settings, demo_data) -> Iterator[ServerThread]:
    with ServerThread(web_settings) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser(server) -> Iterator[Any]:
    """Headless Chromium with its console and network logged, signed in through the login form."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "Chromium is missing: ./dev.sh test installs it (apt-get install chromium chromium-driver)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--lang=zh-CN",
        "--no-first-run",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        driver.get(server.url + "/login")
        driver.find_element("name", "name").send_keys("王经理")
        driver.find_element("name", "token").send_keys(OPERATOR_TOKEN)
        driver.find_element("css selector", "form[action='/login'] button").click()
        yield driver
    finally:
        driver.quit()
