"""Headless Chromium for the web console's tests: Debian's ``chromium`` driven by Selenium
through Debian's ``chromium-driver`` (no browser download; ``scripts/install-system-deps.sh``
installs both).

One browser per test session (starting Chromium costs about a second); each test gets it with
its cookies cleared. When the browser cannot run here, tests using it are skipped with the
reason, never failed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"


def _binaries() -> tuple[str, str] | str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        return "chromium and chromium-driver are needed (apt-get install chromium chromium-driver)"
    return browser, driver


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[WebDriver]:
    found = _binaries()
    if isinstance(found, str):
        pytest.skip(found)
    browser, driver_path = found
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--no-first-run",
    ):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except WebDriverException as exc:
        pytest.skip(f"chromium cannot start here: {exc.msg or exc}")
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium_session: WebDriver) -> Iterator[WebDriver]:
    """The session's Chromium with no cookies: every test logs in itself."""
    chromium_session.delete_all_cookies()
    yield chromium_session
    # Leave the page first: an open alert stream would hold the test server's shutdown.
    chromium_session.get("about:blank")
    chromium_session.delete_all_cookies()


def screenshot(driver: WebDriver, name: str) -> Path:
    """Save the page as ``tests/artifacts/console/<name>.png`` (looked at by humans, not asserted)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
