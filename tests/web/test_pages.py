"""The command center in a real headless Chromium against the real Elasticsearch with the demo data: every page
renders in Chinese with its charts drawn and no console error, requests nothing from another host, and the
crisis feed acknowledges through the workflow (with and without JavaScript); without a token: 401, no data."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import VIEWER_TOKEN

pytestmark = pytest.mark.integration

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def screenshot_dir(tmp: Path) -> Path:
    """Where the page tests put their screenshots: docs/img with ``LINGTING_UPDATE_SCREENSHOTS=1`` (to refresh
    the ones docs/web.md shows), else ``tmp``, so that a test run leaves the checkout as it found it."""
    target = DOCS_IMG if os.environ.get("LINGTING_UPDATE_SCREENSHOTS") == "1" else tmp
    target.mkdir(parents=True, exist_ok=True)
    return target


def crisis_id(demo_data) -> str:
    return demo_data.alerts[0].id


def alert_doc(es, web_settings, alert_id: str) -> dict:
    return es.get(index=web_settings.elasticsearch.alerts_alias, id=alert_id)["_source"]


def drain_logs(driver) -> tuple[list[str], list[str]]:
    """(console errors, URLs requested) since the last call."""
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return errors, urls


def visit(driver, url: str, wait_for: str = "main") -> None:
    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, wait_for))


def charts_drawn(driver) -> int:
    """Charts with an ECharts canvas inside (0 when ECharts did not run)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.chart')].filter(c => c.querySelector('canvas')).length"
    )


def test_without_a_token_every_page_is_401_and_shows_no_data(server, demo_data):
    alert_id = crisis_id(demo_data)
    pages = [
        "/crisis",
        "/crisis/cards",
        f"/crisis/{quote(alert_id, safe='')}",
        "/overview",
        "/drill",
        "/search?q=%E8%80%81%E9%BC%A0",
        "/kpis",
        "/reports",
    ]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path in pages:
            for headers in ({"Accept": "text/html"}, {}, {"Authorization": "Bearer wrong"}):
                resp = client.get(path, headers=headers)
                assert resp.status_code == 401, (path, headers)
                assert alert_id not in resp.text and "后厨" not in resp.text and "用户" not in resp.text
        api = client.get(f"/api/v1/alerts/{quote(alert_id, safe='')}")
        assert api.status_code == 401
        form = client.post(f"/crisis/{quote(alert_id, safe='')}/acknowledge", data={"by": "x"})
        assert form.status_code == 401
        login = client.post("/login", data={"name": "x", "token": "wrong", "next": "/crisis"})
        assert login.status_code == 401 and "lingting_session" not in login.headers.get("set-cookie", "")


def test_a_viewer_reads_but_may_not_act(server, demo_data, es, web_settings):
    alert_id = crisis_id(demo_data)
    before = alert_doc(es, web_settings, alert_id).get("workflow")
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}) as c:
        feed = c.get("/crisis")
        assert feed.status_code == 200 and "海底捞" in feed.text and "btn-acknowledge" not in feed.text
        act = c.post(f"/crisis/{quote(alert_id, safe='')}/acknowledge", data={"by": "路人"})
        assert act.status_code == 403
    assert alert_doc(es, web_settings, alert_id).get("workflow") == before


def test_every_page_renders_in_chinese_with_charts_and_only_local_requests(browser, server, demo_data, tmp_path):
    alert_id = crisis_id(demo_data)
    pages = [  # (screenshot name, path, Chinese heading/text expected, charts expected)
        ("crisis", "/crisis", "危机看板", 0),
        ("crisis-detail", f"/crisis/{quote(alert_id, safe='')}", "危机前后的声量与负面声量", 1),
        ("overview", "/overview?brand=%E6%B5%B7%E5%BA%95%E6%8D%9E&range=24h", "核心指标", 3),
        ("search", "/search?q=%E8%80%81%E9%BC%A0&brand=%E6%B5%B7%E5%BA%95%E6%8D%9E", "共", 0),
        ("kpis", "/kpis", "确认用时", 0),
        ("reports", "/reports", "报告", 0),
    ]
    drain_logs(browser)
    shots = screenshot_dir(tmp_path)
    for name, path, text, charts in pages:
        visit(browser, server.url + path)
        if charts:
            WebDriverWait(browser, 30).until(lambda d, charts=charts: charts_drawn(d) >= charts)
        body = browser.find_element(By.TAG_NAME, "body").text
        assert text in body, (path, body[:300])
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        # the CJK text is laid out with a real font: a line of hanzi is wider than the same count of "?"
        width = browser.execute_script(
            "const s=document.createElement('span');s.textContent='危机看板品牌概览';document.body.append(s);"
            "const w=s.getBoundingClientRect().width;s.remove();return w"
        )
        assert width > 8 * 10, width
        time.sleep(0.3)  # let the charts' first animation frame land before the screenshot
        browser.save_screenshot(str(shots / f"web-{name}.png"))
        errors, urls = drain_logs(browser)
        assert not errors, (path, errors)
        foreign = [u for u in urls if not u.startswith(server.url) and not u.startswith(("data:", "blob:"))]
        assert not foreign, (path, foreign)


def test_search_highlights_and_links(browser, server):
    visit(browser, server.url + "/search?q=%E8%80%81%E9%BC%A0&sentiment=negative")
    marks = browser.find_elements(By.CSS_SELECTOR, "li.post mark")
    assert marks and all(m.text == "老鼠" for m in marks[:5])
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "li.post a")]
    assert links and all(link.startswith("https://weibo.com/") for link in links)


def test_clicking_a_chart_point_lists_its_posts(browser, server):
    visit(browser, server.url + "/overview?brand=%E6%B5%B7%E5%BA%95%E6%8D%9E&range=24h")
    WebDriverWait(browser, 30).until(lambda d: charts_drawn(d) >= 3)
    # the pixel of the busiest negative bar, then a real mouse click there
    x, y = browser.execute_script("""
        const el = document.getElementById('chart-trend'), chart = echarts.getInstanceByDom(el);
        const neg = chart.getOption().series.find(s => s.id === 'negative');
        const top = neg.data.reduce((a, b) => (b[1] > a[1] ? b : a));
        const stacked = chart.getOption().series.reduce((sum, s) => sum + (s.data.find(p => p[0] === top[0]) || [0, 0])[1], 0);
        const [px, py] = chart.convertToPixel({seriesId: 'negative'}, [top[0], stacked - top[1] / 2]);
        const r = el.getBoundingClientRect();
        return [r.left + px, r.top + py];""")
    from selenium.webdriver.common.action_chains import ActionChains

    body = browser.find_element(By.TAG_NAME, "body")
    ActionChains(browser).move_to_element_with_offset(body, 0, 0).perform()
    browser.execute_script("window.scrollTo(0, 0)")
    el = browser.find_element(By.ID, "chart-trend")
    rect = el.rect
    ActionChains(browser).move_to_element_with_offset(
        el, int(x - rect["x"] - rect["width"] / 2), int(y - rect["y"] - rect["height"] / 2)
    ).click().perform()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#drill li.post"))
    posts = browser.find_elements(By.CSS_SELECTOR, "#drill li.post")
    assert posts and all("s-negative" in p.get_attribute("class") for p in posts)


def test_acknowledge_from_the_page_changes_the_alert_document(browser, server, demo_data, es, web_settings):
    alert_id = crisis_id(demo_data)
    visit(browser, server.url + "/crisis")
    card = browser.find_element(By.CSS_SELECTOR, f"article[data-alert-id='{alert_id}']")
    card.find_element(By.CSS_SELECTOR, "button.btn-acknowledge").click()
    WebDriverWait(browser, 30).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, f"article[data-alert-id='{alert_id}'] .state").get_attribute("data-state")
            == "acknowledged"
        )
    )
    assert browser.current_url.endswith("/crisis")  # swapped in place by htmx, no navigation
    wf = alert_doc(es, web_settings, alert_id)["workflow"]
    assert wf["state"] == "acknowledged" and wf["by"] == "王经理"
    assert [h["action"] for h in wf["history"]][-1] == "acknowledge"
    errors, _ = drain_logs(browser)
    assert not errors


def test_assign_and_resolve_work_with_javascript_disabled(browser, server, demo_data, es, web_settings):
    alert_id = crisis_id(demo_data)
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        visit(browser, server.url + "/crisis")
        card = browser.find_element(By.CSS_SELECTOR, f"article[data-alert-id='{alert_id}']")
        card.find_element(By.NAME, "assignee").send_keys("公关部-李娜")
        card.find_element(By.CSS_SELECTOR, "button.btn-assign").click()
        WebDriverWait(browser, 30).until(lambda d: "msg=" in d.current_url)
        card = browser.find_element(By.CSS_SELECTOR, f"article[data-alert-id='{alert_id}']")
        assert card.find_element(By.CSS_SELECTOR, ".assignee").text == "公关部-李娜"
        assert "已记录" in browser.find_element(By.CSS_SELECTOR, ".flash").text
        wf = alert_doc(es, web_settings, alert_id)["workflow"]
        assert wf["state"] == "assigned" and wf["assignee"] == "公关部-李娜" and wf["by"] == "王经理"
        card.find_element(By.CSS_SELECTOR, "button.btn-resolve").click()
        WebDriverWait(browser, 30).until(
            lambda d: alert_doc(es, web_settings, alert_id)["workflow"]["state"] == "resolved"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    visit(browser, server.url + "/kpis")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "海底捞" in body and "公关部-李娜" in body


def test_english_is_selectable(browser, server):
    visit(browser, server.url + "/lang/en?next=/crisis")
    assert "Crisis feed" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    visit(browser, server.url + "/lang/zh?next=/crisis")
    assert "危机看板" in browser.find_element(By.TAG_NAME, "h1").text
    assert urlsplit(browser.current_url).path == "/crisis"


def test_escalation_timer_counts_down_and_kpis_count_the_ack_before_it(browser, server, web_settings, es):
    """A critical alert on a route that escalates after an hour: the card shows the timer (counting down with
    JS), acknowledging it from the page cancels nothing early but counts as acknowledged before escalation."""
    import asyncio

    from sinks import elasticsearch as es_sink
    from sinks.notify.dispatcher import Notifier
    from tests.sinks.receivers import ChatReceivers, alert, dingtalk, notify_section

    crisis = alert(40, brand="蔚来")

    async def arm():
        from elasticsearch import AsyncElasticsearch

        async with ChatReceivers() as rx:
            data = web_settings.model_dump(mode="json")
            data["notify"] = notify_section(
                [dingtalk(rx)],
                routes=[
                    {
                        "name": "crisis",
                        "channels": ["crisis-dingtalk"],
                        "escalate": {"after": "1h", "to": ["crisis-dingtalk"]},
                    }
                ],
            )
            from pipeline.settings import Settings

            settings = Settings.model_validate(data)
            client = AsyncElasticsearch(settings.elasticsearch.url, request_timeout=30)
            await es_sink.upsert_alert(client, settings.elasticsearch.index_prefix, crisis)
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            await notifier.deliver(crisis)
            await notifier.wait_idle(10)
            await notifier.stop()
            await client.indices.refresh(index=settings.elasticsearch.deliveries_alias)
            await client.close()

    asyncio.run(arm())
    visit(browser, server.url + f"/crisis?brand={quote('蔚来')}")
    card = browser.find_element(By.CSS_SELECTOR, f"article[data-alert-id='{crisis.id}']")
    timer = card.find_element(By.CSS_SELECTOR, ".timer")
    WebDriverWait(browser, 10).until(lambda d: timer.text.startswith("⏳ 5") or timer.text.startswith("⏳ 6"))
    card.find_element(By.CSS_SELECTOR, "button.btn-acknowledge").click()
    WebDriverWait(browser, 30).until(lambda d: alert_doc(es, web_settings, crisis.id).get("workflow"))
    visit(browser, server.url + "/kpis?range=30d")
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "section:nth-of-type(2) tr")]
    nio = next(r for r in rows if r.startswith("蔚来"))
    assert nio.endswith("100.0% (1)"), nio
