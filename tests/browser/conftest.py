"""Browser tests: Playwright (sync API) driving Debian's chromium against ``live_server``.

They are skipped, not failed, where /usr/bin/chromium is missing (``make test-tools`` installs it).
Screenshots go to ``test-artifacts/`` (git-ignored), for people to look at.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# How long a step may wait for the page. A page answers in well under a second alone; in CI
# the browser, the live server and PostgreSQL share two cores with the rest of the suite, and
# 10 s was once not enough for one step (a flake, not a slow page).
STEP_TIMEOUT_MS = 20_000

# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls from
# it (SynchronousOnlyOperation) unless told the loop is not serving async code here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def pytest_collection_modifyitems(config, items):
    if os.access(CHROMIUM, os.X_OK):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: run `make test-tools`")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    # expect() keeps its own timeout (5 s by default), apart from the context's.
    sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot():
    """Save a screenshot of ``target`` (a page or locator) as test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(target, name: str, **kwargs):
        path = ARTIFACTS / f"{name}.png"
        target.screenshot(path=str(path), **kwargs)
        return path

    return save
