# ruff: noqa: F811  (pytest fixtures imported from support.browser are parameters here)
"""The web console against real components: the server under uvicorn on a loopback port with
SQLite, seeded through the store's ingestion functions, driven by headless Chromium (Selenium +
chromium-driver) and by plain HTTP for what a browser would hide (redirects, CSRF, 403s).

Screenshots of every page land in ``tests/artifacts/console/`` for humans to look at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.console_seed import WEB, XSS_PACKAGE, XSS_TITLE, seed
from server.payloads import auth, image_scan, vuln_finding
from support.browser import browser, chromium_session, screenshot  # noqa: F401  (fixtures)
from support.server import serve_in_thread
from yamori.server.console.session import COOKIE
from yamori.store import Store
from yamori.store.ingest import ingest_image_scan
from yamori.store.models import FindingRecord
from yamori.store.payloads import ImageScanPayload

WAIT = 10.0


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the console reads through the same queries the API tests run on both backends."""
    return f"sqlite:///{tmp_path / 'console.sqlite'}"


@pytest.fixture
def server(store: Store, tokens: dict[str, str]) -> Iterator[str]:
    """Base URL of the seeded server under uvicorn in a thread."""
    seed(store)
    with serve_in_thread(store) as url:
        yield url


def finding_pk(store: Store, title: str | None = None, rule: str | None = None, image: str = WEB) -> int:
    from sqlalchemy import select

    from yamori.store.models import Asset

    with store.session() as session:
        query = (
            select(FindingRecord.id).join(Asset, Asset.id == FindingRecord.asset_id).where(Asset.key == image)
        )
        if title is not None:
            query = query.where(FindingRecord.title == title)
        if rule is not None:
            query = query.where(FindingRecord.rule_id == rule)
        pk = session.scalar(query)
    assert pk is not None
    return pk


def finding_asset(store: Store, key: str) -> int:
    from sqlalchemy import select

    from yamori.store.models import Asset

    with store.session() as session:
        pk = session.scalar(select(Asset.id).where(Asset.key == key))
    assert pk is not None
    return pk


def finding_status(store: Store, pk: int) -> str:
    with store.session() as session:
        record = session.get(FindingRecord, pk)
        assert record is not None
        return record.status


# --- browser ---------------------------------------------------------------------------------


def _wait(driver: Any, condition: Any, timeout: float = WAIT) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _login(driver: Any, base: str, token: str, shot: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console/")
    _wait(driver, lambda d: "/console/login" in d.current_url)
    driver.find_element(By.ID, "token").send_keys(token)
    if shot:
        screenshot(driver, shot)
    driver.find_element(By.ID, "login").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "who"))


def test_analyst_walks_every_page_filters_and_suppresses(
    server: str, browser: Any, tokens: dict[str, str], store: Store
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _login(browser, server, tokens["analyst"], shot="login")
    assert browser.find_element(By.ID, "who").text == "test-analyst · analyst"
    assert browser.find_element(By.ID, "open-critical").text == "5"  # 2 images x 2, plus the public bucket
    assert "CVE-2024-3094" in browser.find_element(By.ID, "top-vulns").text
    assert "shop-public-assets" in browser.find_element(By.ID, "top-public").text
    assert "Write below etc" in browser.find_element(By.ID, "top-alerts").text
    assert browser.find_elements(By.CSS_SELECTOR, "#trend rect.bar-opened")
    screenshot(browser, "overview")

    browser.get(f"{server}/console/inventory")
    rows = browser.find_element(By.ID, "assets").text
    assert WEB in rows and "registry.example/shop/api:2.0" in rows
    screenshot(browser, "inventory")
    browser.find_element(By.LINK_TEXT, WEB).click()
    _wait(browser, lambda d: d.find_elements(By.ID, "packages"))
    assert "pkg5" in browser.find_element(By.ID, "packages").text
    screenshot(browser, "asset-image")
    browser.get(f"{server}/console/inventory?kind=cloud_resource")
    assert "arn:aws:s3:::shop-public-assets" in browser.find_element(By.ID, "assets").text
    screenshot(browser, "inventory-cloud")

    browser.get(f"{server}/console/vulnerabilities")
    assert "11 total" in browser.find_element(By.CLASS_NAME, "pageinfo").text
    screenshot(browser, "vulnerabilities")
    Select(browser.find_element(By.ID, "f-severity")).select_by_value("CRITICAL")
    Select(browser.find_element(By.ID, "f-kev")).select_by_value("yes")
    browser.find_element(By.ID, "apply").click()
    _wait(browser, lambda d: "kev=yes" in d.current_url)
    table = browser.find_element(By.ID, "vulns").text
    assert "2 total" in browser.find_element(By.CLASS_NAME, "pageinfo").text
    assert "CVE-2024-3094" in table and "CVE-2023-4863" not in table
    screenshot(browser, "vulnerabilities-filtered")
    browser.get(f"{server}/console/vulnerabilities?group=package&epss=0.5")
    groups = browser.find_element(By.ID, "groups").text
    assert "xz-utils" in groups and "openssl" not in groups
    screenshot(browser, "vulnerabilities-by-package")

    browser.get(f"{server}/console/posture")
    controls = browser.find_element(By.ID, "controls").text
    assert "cis-aws-3.0:2.1.4" in controls and "Enable S3 Block Public Access" in controls
    row = browser.find_element(By.XPATH, "//table[@id='controls']//tr[td/a[text()='cis-aws-3.0:2.1.4']]")
    assert [c.text for c in row.find_elements(By.CSS_SELECTOR, "td.n")] == ["1", "1", "0"]
    browser.find_element(By.LINK_TEXT, "cis-aws-3.0:2.1.4").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "control-resources"))
    resources = browser.find_element(By.ID, "control-resources").text
    assert "shop-public-assets" in resources and "shop-logs" in resources and "pass" in resources
    screenshot(browser, "posture")

    browser.get(f"{server}/console/alerts")
    assert "Terminal shell in container" in browser.find_element(By.ID, "alerts").text
    Select(browser.find_element(By.ID, "f-priority")).select_by_value("Error")
    browser.find_element(By.CSS_SELECTOR, "#alert-filters button").click()
    _wait(browser, lambda d: "priority=Error" in d.current_url)
    filtered = browser.find_element(By.ID, "alerts").text
    assert "Write below etc" in filtered and "Terminal shell" not in filtered
    screenshot(browser, "alerts-filtered")

    pk = finding_pk(store, rule="CVE-2023-4863")
    browser.get(f"{server}/console/findings/{pk}")
    assert "Upgrade libwebp7" in browser.find_element(By.ID, "remediation").text
    screenshot(browser, "finding")
    browser.find_element(By.ID, "suppress-reason").send_keys("not reachable: webp decoding disabled")
    browser.find_element(By.ID, "suppress").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "suppression"))
    assert browser.find_element(By.ID, "finding-status").text == "suppressed"
    assert "webp decoding disabled — by test-analyst" in browser.find_element(By.ID, "suppression").text
    assert "test-analyst" in browser.find_element(By.ID, "history").text
    assert finding_status(store, pk) == "suppressed"
    screenshot(browser, "finding-suppressed")

    browser.get(f"{server}/console/vulnerabilities?status=suppressed")
    assert "CVE-2023-4863" in browser.find_element(By.ID, "vulns").text


def test_xss_payloads_render_as_text(server: str, browser: Any, tokens: dict[str, str], store: Store) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, server, tokens["viewer"])
    pk = finding_pk(store, title=XSS_TITLE)
    browser.get(f"{server}/console/findings/{pk}")
    assert browser.find_element(By.ID, "finding-title").text == XSS_TITLE
    assert browser.find_element(By.ID, "finding-package").text == XSS_PACKAGE
    browser.get(f"{server}/console/vulnerabilities?q=CVE-2099")
    assert XSS_TITLE in browser.find_element(By.ID, "vulns").text
    browser.get(f"{server}/console/alerts")
    assert "<script>window.__xss = 3</script>" in browser.find_element(By.ID, "alerts").text
    screenshot(browser, "xss-as-text")
    assert browser.execute_script("return window.__xss === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "main b, main img")


def test_new_alert_appears_live(server: str, browser: Any, tokens: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, server, tokens["analyst"])
    browser.get(f"{server}/console/alerts?namespace=shop")
    _wait(browser, lambda d: d.find_element(By.ID, "live-state").text == "live")
    screenshot(browser, "alerts")
    before = len(browser.find_elements(By.CSS_SELECTOR, "#alert-rows tr"))
    rule = "Launch Privileged Container"
    alerts = [
        {
            "time": "2030-01-01T11:00:00.5Z",
            "rule": "Ignored elsewhere",
            "priority": "Notice",
            "output": "other namespace",
            "output_fields": {"k8s.ns.name": "jobs"},
        },
        {
            "time": "2030-01-01T11:00:01.123456789Z",
            "rule": rule,
            "priority": "Critical",
            "output": "Privileged container started <img src=x onerror=alert(1)>",
            "output_fields": {"container.name": "debug", "k8s.ns.name": "shop", "k8s.pod.name": "debug-1"},
        },
    ]
    posted = time.monotonic()
    answer = httpx.post(f"{server}/api/v1/alerts", json=alerts, headers=auth(tokens["agent"]))
    assert answer.status_code == 201, answer.text
    _wait(browser, lambda d: rule in d.find_element(By.ID, "alert-rows").text, timeout=10)
    waited = time.monotonic() - posted
    rows = browser.find_elements(By.CSS_SELECTOR, "#alert-rows tr")
    assert len(rows) == before + 1, "the other namespace's alert must not appear"
    assert "<img src=x onerror=alert(1)>" in rows[0].text and "debug-1" in rows[0].text
    screenshot(browser, "alerts-live")
    print(f"live alert shown {waited:.2f}s after the POST")


def test_viewer_sees_no_triage_and_cannot_forge_it(
    server: str, browser: Any, tokens: dict[str, str], store: Store
) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, server, tokens["viewer"])
    pk = finding_pk(store, rule="CVE-2024-3094")
    browser.get(f"{server}/console/findings/{pk}")
    assert browser.find_element(By.ID, "finding-title").text
    assert not browser.find_elements(By.ID, "suppress") and not browser.find_elements(By.ID, "resolve")
    screenshot(browser, "finding-viewer")
    csrf = browser.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf]").get_attribute("value")
    cookie = browser.get_cookie(COOKIE)
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    with httpx.Client(base_url=server, cookies={COOKIE: cookie["value"]}) as forger:
        forged = forger.post(f"/console/findings/{pk}/suppress", data={"csrf": csrf, "reason": "forged"})
    assert forged.status_code == 403
    assert finding_status(store, pk) == "open"


# --- plain HTTP ------------------------------------------------------------------------------


@contextmanager
def _session(server: str, token: str) -> Iterator[httpx.Client]:
    """An HTTP client logged in to the console with ``token`` (the cookie kept in its jar)."""
    with httpx.Client(base_url=server, follow_redirects=False) as client:
        answer = client.post("/console/login", data={"token": token, "next": "/console/posture"})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/posture"
        yield client


def _csrf(client: httpx.Client, path: str = "/console/") -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get(path).text)
    assert match
    return match.group(1)


def test_pages_redirect_to_login_and_tokens_are_checked(
    server: str, tokens: dict[str, str], store: Store
) -> None:
    with httpx.Client(base_url=server, follow_redirects=False) as anonymous:
        for path in ("/console/", "/console/vulnerabilities?severity=HIGH", "/console/findings/1"):
            answer = anonymous.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login?next=")
        assert anonymous.get("/console/alerts/stream").status_code == 401
        assert anonymous.get("/console/alerts/feed.json").status_code == 401
        assert anonymous.get("/").headers["location"] == "/console/"
        login = anonymous.get("/console/login")
        assert login.status_code == 200 and "script-src 'self'" in login.headers["content-security-policy"]
        bad = anonymous.post("/console/login", data={"token": "ymr_nope_nope"})
        assert bad.status_code == 401 and "not valid" in bad.text
        agent = anonymous.post("/console/login", data={"token": tokens["agent"]})
        assert agent.status_code == 403 and COOKIE not in agent.headers.get("set-cookie", "")
        with httpx.Client(base_url=server, cookies={COOKIE: "ymr_0000000000000000_x"}) as forged:
            assert forged.get("/console/", follow_redirects=False).status_code == 303
        evil = anonymous.post(
            "/console/login", data={"token": tokens["viewer"], "next": "https://evil.example/"}
        )
        assert evil.headers["location"] == "/console/"

    with _session(server, tokens["admin"]) as client:
        set_cookie = client.post("/console/login", data={"token": tokens["admin"]}).headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Path=/console" in set_cookie
        assert client.get("/console/posture").status_code == 200
        # revoking the token ends the console session at once
        revoked = httpx.delete(f"{server}/api/v1/tokens/1", headers=auth(tokens["admin"]))
        assert revoked.status_code == 200 and revoked.json()["name"] == "test-admin"
        assert client.get("/console/posture").status_code == 303

    with _session(server, tokens["analyst"]) as analyst:
        assert analyst.post("/console/logout", data={"csrf": _csrf(analyst)}).status_code == 303
        assert analyst.get("/console/").status_code == 303  # cookie cleared


def test_csrf_and_origin_are_enforced(server: str, tokens: dict[str, str], store: Store) -> None:
    pk = finding_pk(store, rule="CVE-2023-44487")
    with _session(server, tokens["analyst"]) as analyst:
        url = f"/console/findings/{pk}/suppress"
        assert analyst.post(url, data={"reason": "no token"}).status_code == 403
        assert analyst.post(url, data={"reason": "wrong", "csrf": "0" * 64}).status_code == 403
        with _session(server, tokens["admin"]) as admin:  # another session's value is no good either
            assert analyst.post(url, data={"reason": "x", "csrf": _csrf(admin)}).status_code == 403
        csrf = _csrf(analyst)
        cross = analyst.post(
            url, data={"reason": "x", "csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        assert finding_status(store, pk) == "open"
        empty = analyst.post(url, data={"reason": " ", "csrf": csrf})
        assert empty.status_code == 303 and "error=" in empty.headers["location"]
        ok = analyst.post(url, data={"reason": "accepted risk", "until": "2099-12-31", "csrf": csrf})
        assert ok.status_code == 303 and ok.headers["location"] == f"/console/findings/{pk}"
        assert finding_status(store, pk) == "suppressed"
        resolved = analyst.post(f"/console/findings/{pk}/resolve", data={"csrf": csrf, "reason": "patched"})
        assert resolved.status_code == 303 and finding_status(store, pk) == "resolved"
        page = analyst.get(f"/console/findings/{pk}").text
        assert "accepted risk (until 2099-12-31T23:59:59" in page and "patched" in page


def test_100k_findings_filter_and_paginate(server: str, tokens: dict[str, str], store: Store) -> None:
    severities = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
    started = time.monotonic()
    for image_no in range(100):
        image = f"registry.example/load/app-{image_no:03d}:1"
        findings = []
        for i in range(1000):
            finding = vuln_finding(
                image,
                f"CVE-2024-{i:05d}",
                f"lib{i % 50}",
                severities[i % 4],
                kev=i % 10 == 0,
                fixed_versions=["2"] if i % 2 else [],
            )
            finding["vulnerability"]["epss_score"] = (i % 100) / 100
            finding["vulnerability"]["fix_state"] = "fixed" if i % 2 else "not_fixed"
            findings.append(finding)
        with store.session() as session:
            ingest_image_scan(
                session, ImageScanPayload.model_validate(image_scan(image, findings, 0)), "load"
            )
    print(f"stored 100,000 findings in {time.monotonic() - started:.1f}s")

    with _session(server, tokens["viewer"]) as viewer:
        timings = {}

        def page(query: str) -> str:
            begin = time.monotonic()
            answer = viewer.get(f"/console/vulnerabilities?{query}")
            timings[query] = time.monotonic() - begin
            assert answer.status_code == 200, answer.text[:500]
            return answer.text

        total = 100_000 + 11  # plus the seeded images
        first = page("")
        assert f"page 1 of 2001 · {total:,} total" in first
        last = page("page=2001")
        assert "page 2001 of 2001" in last and 'rel="next"' not in last and 'rel="prev"' in last
        high = page("severity=HIGH&fix=no&page=300")  # HIGH is every 4th CVE, none fixable
        assert "page 300 of 500 · 25,000 total" in high
        # KEV (every 10th CVE) among HIGH ones with EPSS >= .5: 30 per image, + 2 seeded x 2 images
        kev = page("kev=yes&epss=0.5&severity=HIGH&severity=CRITICAL")
        assert "page 1 of 61 · 3,004 total" in kev
        image = finding_asset(store, "registry.example/load/app-003:1")
        assert "page 1 of 20 · 1,000 total" in page(f"image={image}&status=any")
        grouped = page("group=package&page=1")
        assert "lib0" in grouped and "page 1 of 2 · 56 total" in grouped
        by_cve = page("group=cve&page=20")
        assert "page 20 of 21 · 1,006 total" in by_cve
    print("vulnerability page timings: " + ", ".join(f"{q or 'first'} {t:.2f}s" for q, t in timings.items()))


# --- admin pages, reopen, workloads ----------------------------------------------------------


def test_admin_manages_tokens_and_retention_and_reopens(
    server: str, browser: Any, tokens: dict[str, str], store: Store
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from yamori.store.queries import get_retention, resolve_finding

    _login(browser, server, tokens["admin"])
    browser.find_element(By.ID, "nav-admin").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "tokens"))
    listed = browser.find_element(By.ID, "tokens").text
    assert "test-viewer" in listed and "active (this session)" in listed
    screenshot(browser, "admin-tokens")

    browser.find_element(By.ID, "token-name").send_keys("ci-runner")
    Select(browser.find_element(By.ID, "token-role")).select_by_value("agent")
    browser.find_element(By.ID, "create-token").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "new-token"))
    secret = browser.find_element(By.ID, "new-token").get_attribute("value")
    assert secret and secret.startswith("ymr_")
    assert "ci-runner (agent)" in browser.find_element(By.ID, "issued").text
    screenshot(browser, "admin-token-created")
    report = {"host": "ci", "workloads": []}
    assert (
        httpx.post(f"{server}/api/v1/scans/workloads", json=report, headers=auth(secret)).status_code == 201
    )
    browser.get(f"{server}/console/admin/tokens")  # shown once: never again
    assert secret not in browser.page_source and "ci-runner" in browser.find_element(By.ID, "tokens").text

    row = browser.find_element(By.XPATH, "//table[@id='tokens']//tr[td[text()='ci-runner']]")
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "admin-notice"))
    assert browser.find_element(By.ID, "admin-notice").text == "revoked ci-runner"
    row = browser.find_element(By.XPATH, "//table[@id='tokens']//tr[td[text()='ci-runner']]")
    assert "revoked" in row.text and not row.find_elements(By.CSS_SELECTOR, "button.revoke")
    assert (
        httpx.post(f"{server}/api/v1/scans/workloads", json=report, headers=auth(secret)).status_code == 401
    )
    screenshot(browser, "admin-token-revoked")

    browser.find_element(By.LINK_TEXT, "Retention").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "retention-form"))
    assert browser.find_element(By.ID, "current-alerts-days").text == "30 days"
    screenshot(browser, "admin-retention")
    for field, value in (("alerts-days", "20"), ("captures-days", "3")):
        browser.find_element(By.ID, field).clear()
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.ID, "save-retention").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "admin-notice"))
    assert browser.find_element(By.ID, "admin-notice").text.startswith("saved; purged 0 alert(s)")
    assert browser.find_element(By.ID, "current-alerts-days").text == "20 days"
    with store.session() as session:
        assert get_retention(session) == {"alerts_days": 20, "captures_days": 3}
    screenshot(browser, "admin-retention-saved")

    pk = finding_pk(store, rule="CVE-2024-0727")
    with store.session() as session:
        resolve_finding(session, pk, reason="patched upstream", actor="test")
    browser.get(f"{server}/console/findings/{pk}")
    assert browser.find_element(By.ID, "finding-status").text == "resolved"
    browser.find_element(By.ID, "reopen-reason").send_keys("the patch was reverted")
    browser.find_element(By.ID, "reopen").click()
    _wait(browser, lambda d: d.find_element(By.ID, "finding-status").text == "open")
    history = browser.find_element(By.ID, "history").text
    assert "resolved open test-admin the patch was reverted" in history
    assert not browser.find_elements(By.ID, "reopen") and "reopened 1\u00d7" in browser.page_source
    assert finding_status(store, pk) == "open"
    screenshot(browser, "finding-reopened")


def test_workloads_tab_and_workload_page(server: str, browser: Any, tokens: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    from server.console_seed import WEB_CONTAINER, XSS_LABEL, XSS_WORKLOAD

    _login(browser, server, tokens["viewer"])
    assert not browser.find_elements(By.ID, "nav-admin")  # admins only
    browser.get(f"{server}/console/inventory")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Workloads (2)").click()
    _wait(browser, lambda d: "kind=container" in d.current_url)
    rows = browser.find_element(By.ID, "assets").text
    assert "k8s_web_web-7d9f_shop" in rows and "shop / web-7d9f" in rows and WEB in rows
    assert XSS_WORKLOAD in rows and "privileged" in rows
    screenshot(browser, "inventory-workloads")

    browser.find_element(By.LINK_TEXT, "k8s_web_web-7d9f_shop").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "workload"))
    assert browser.find_element(By.ID, "workload-image").text.startswith(f"{WEB} matched by digest")
    assert browser.find_element(By.ID, "workload-k8s").text == "namespace shop · pod web-7d9f · container web"
    assert "CVE-2024-3094" in browser.find_element(By.ID, "image-findings").text
    assert f"open in {WEB}" in browser.find_element(By.TAG_NAME, "main").text  # API shares the digest
    assert "pkg5" in browser.find_element(By.ID, "packages").text  # with the in-use column
    assert "io.kubernetes.pod.name" in browser.find_element(By.ID, "labels").text
    screenshot(browser, "workload")

    browser.get(f"{server}/console/alerts")
    link = browser.find_element(By.CSS_SELECTOR, "#alert-rows a.workload")
    assert link.text == "web"
    link.click()
    _wait(browser, lambda d: d.find_elements(By.ID, "workload"))
    assert WEB_CONTAINER in browser.find_element(By.ID, "workload").text

    browser.get(f"{server}/console/inventory?kind=container")
    browser.find_element(By.PARTIAL_LINK_TEXT, "evil").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "workload"))
    assert browser.find_element(By.TAG_NAME, "h1").text == XSS_WORKLOAD
    assert XSS_LABEL in browser.find_element(By.ID, "labels").text
    assert "not scanned yet" in browser.find_element(By.ID, "workload-image").text
    assert browser.find_element(By.ID, "workload-privileged").text == "privileged"
    assert browser.execute_script("return window.__xss === undefined")
    screenshot(browser, "workload-xss")


def test_admin_pages_are_for_admins_only(server: str, tokens: dict[str, str]) -> None:
    for role in ("analyst", "viewer"):
        with _session(server, tokens[role]) as client:
            csrf = _csrf(client)
            assert client.get("/console/admin/tokens").status_code == 403
            assert client.get("/console/admin/retention").status_code == 403
            for path, data in (
                ("/console/admin/tokens", {"name": "sneaky", "role": "admin"}),
                ("/console/admin/tokens/1/revoke", {}),
                ("/console/admin/retention", {"alerts_days": "1", "captures_days": "1"}),
            ):
                assert client.post(path, data={**data, "csrf": csrf}).status_code == 403, (role, path)
    with _session(server, tokens["admin"]) as admin:
        assert (
            admin.post("/console/admin/tokens", data={"name": "no-csrf", "role": "admin"}).status_code == 403
        )
        listed = admin.get("/console/admin/tokens").text
        assert "sneaky" not in listed and "no-csrf" not in listed
        csrf = _csrf(admin)
        bad = admin.post(
            "/console/admin/retention", data={"alerts_days": "0", "captures_days": "x", "csrf": csrf}
        )
        assert bad.status_code == 200 and "must be between 1 and 36500" in bad.text
        own = re.search(r'<tr data-id="(\d+)">[^\n]*test-admin', listed)
        assert own
        refused = admin.post(f"/console/admin/tokens/{own.group(1)}/revoke", data={"csrf": csrf})
        assert refused.status_code == 303 and "error=" in refused.headers["location"]
        assert admin.get("/console/admin/tokens").status_code == 200  # still signed in
    with httpx.Client(base_url=server, follow_redirects=False) as anonymous:
        assert anonymous.get("/console/admin/tokens").status_code == 303  # to the login page
