"""Every console page and filter on both stores: the console's own queries (the JSON-path EPSS
filter, grouping by package or CVE, controls from compliance references) run on SQLite and on a
real PostgreSQL, with the seeded data the browser tests use (XSS payloads included)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from server.console_seed import API, WEB, XSS_PACKAGE, XSS_TITLE, _control
from server.payloads import posture_scan
from server.test_console import _session, server  # noqa: F401  (the seeded-server fixture)
from yamori.store import Store
from yamori.store.ingest import ingest_posture_scan
from yamori.store.payloads import PostureScanPayload

PAGES = [
    ("/console/", "Overview"),
    ("/console/inventory", ""),
    ("/console/inventory?kind=cloud_resource", ""),
    ("/console/inventory?kind=container", ""),
    ("/console/vulnerabilities", ""),
    ("/console/vulnerabilities?severity=CRITICAL&fix=yes", ""),
    ("/console/vulnerabilities?kev=yes&epss=0.5", ""),
    ("/console/vulnerabilities?group=package", ""),
    ("/console/vulnerabilities?group=cve", ""),
    ("/console/vulnerabilities?q=%27%3B+DROP+TABLE+findings%3B--", ""),
    ("/console/posture", ""),
    ("/console/alerts", ""),
    ("/console/alerts?namespace=%27+OR+1%3D1--", ""),
]


@pytest.fixture
def analyst(server: str, tokens: dict[str, str]) -> Iterator[httpx.Client]:  # noqa: F811
    with _session(server, tokens["analyst"]) as client:
        yield client


@pytest.mark.parametrize(("path", "text"), PAGES)
def test_console_pages_on_both_backends(analyst: httpx.Client, path: str, text: str) -> None:
    answer = analyst.get(path)
    assert answer.status_code == 200, answer.text[:500]
    assert text in answer.text
    assert XSS_TITLE not in answer.text and XSS_PACKAGE not in answer.text  # escaped, never raw


def test_filters_and_grouping_find_the_seeded_data(analyst: httpx.Client) -> None:
    assert WEB in analyst.get("/console/vulnerabilities?status=all").text
    assert "&lt;b&gt;evil-pkg&lt;/b&gt;" in analyst.get("/console/vulnerabilities?group=package").text
    assert API in analyst.get("/console/inventory").text
    high_epss = analyst.get("/console/vulnerabilities?epss=0.5&status=all").text
    low_epss = analyst.get("/console/vulnerabilities?epss=0.0&status=all").text
    assert high_epss.count("<tr") < low_epss.count("<tr")  # the JSON-path filter narrows


XSS_RESOURCE = "arn:aws:s3:::<script>window.__xss=4</script>"
XSS_RULE = "aws.<img src=x onerror=alert(1)>"


@pytest.fixture
def hostile_posture(store: Store, server: str) -> str:  # noqa: F811
    """A posture finding whose resource name and rule id carry markup (stored strings, not filters)."""
    finding = _control(XSS_RULE, XSS_RESOURCE, "CRITICAL", ["cis-aws-3.0:9.9"], "<b>fix</b> it")
    with store.session() as session:
        ingest_posture_scan(session, PostureScanPayload.model_validate(posture_scan([finding])), "ci")
    return server


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/posture",
        "/console/posture?control=cis-aws-3.0:9.9",
        "/console/inventory?kind=cloud_resource",
    ],
)
def test_markup_in_resource_names_and_rules_is_escaped(
    hostile_posture: str, analyst: httpx.Client, path: str
) -> None:
    page = analyst.get(path).text
    assert "<script>window.__xss=4" not in page and "<img src=x onerror" not in page
    assert "&lt;script&gt;window.__xss=4" in page or path == "/console/"


def test_workload_pages_on_both_backends(analyst: httpx.Client) -> None:
    import re

    listing = analyst.get("/console/inventory?kind=container").text
    assert "&lt;script&gt;window.__xss = 4&lt;/script&gt;evil" in listing and "<script>window" not in listing
    pk = re.search(r'href="/console/assets/(\d+)">k8s_web_web-7d9f_shop<', listing)
    assert pk
    page = analyst.get(f"/console/assets/{pk.group(1)}").text
    assert f">{WEB}</a>" in page and "matched by digest" in page and "CVE-2024-3094" in page
    assert 'class="workload"' in analyst.get("/console/alerts").text  # the alert links to it
