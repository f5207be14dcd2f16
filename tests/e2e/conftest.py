"""Fixtures for the end-to-end browser tests (Playwright + Debian's chromium).

The browser is Debian's /usr/bin/chromium, never one downloaded by
`playwright install`. Without it the tests skip, except in CI (CI=true),
where a missing browser is a failure: CI must not go green by skipping.
"""

import json
import os
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright's waits are short: everything here is local and should be fast.
TIMEOUT_MS = 5_000


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so the end-to-end tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} not found: install Debian's chromium package to run the e2e tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - playwright is a dev dependency
        _unavailable(f"Playwright for Python is not installed: {error}")
    # Playwright's sync API keeps an asyncio event loop in the main thread, and
    # Django's ORM refuses to run there while a loop is running. The tests use
    # the ORM synchronously, one thing at a time, which is safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def demo(transactional_db):
    """The demo data of the README's "Demo log-ins" (alice, bob, carol, mallory, admin; demo, sandbox)."""
    call_command("seed_demo", force=True, stdout=StringIO())


def _new_context(browser, live_server, **options):
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def context(browser, live_server, demo):
    """A fresh browser context per test, allowed to use the clipboard."""
    context = _new_context(browser, live_server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def nojs_page(browser, live_server, demo):
    """A page in a context with JavaScript switched off."""
    context = _new_context(browser, live_server, java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture
def demo_keys(demo):
    """Keys of the demo project in each status: active (one used recently),
    expires soon, expired (made through the service with an earlier clock) and
    revoked. Returns them by status."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apikeys import services, usage
    from projects import catalog
    from projects.models import Project
    from tests.factories import ApiKeyFactory, expired_api_key

    alice = get_user_model().objects.get(username="alice")
    project = Project.objects.get(slug="demo")
    now = timezone.now()
    made = {
        "active": ApiKeyFactory(
            project=project,
            created_by=alice,
            name="ci-deploy",
            description="Deploys main from CI.",
            tags=["ci", "production"],
            permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS],
        ),
        "expires_soon": ApiKeyFactory(
            project=project,
            created_by=alice,
            name="nightly-report",
            description="Weekly usage report.",
            tags=["reporting"],
            expires_at=now + timedelta(days=3),
        ),
        "expired": expired_api_key(project=project, created_by=alice, name="old-import", tags=["migration"]),
        "revoked": ApiKeyFactory(
            project=project,
            created_by=alice,
            name="leaked-laptop",
            description="Replaced after a laptop was lost.",
            tags=["laptop"],
        ),
    }
    usage.touch_last_used(made["active"], now - timedelta(hours=2))
    services.api_key_revoke(api_key=made["revoked"], revoked_by=alice)
    return made


AXE = Path(django_settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core from npm (package.json; `make test` runs `npm ci` where npm exists)."""
    if not AXE.is_file():
        _unavailable(f"{AXE} not found: run `npm ci` (or `make test` with npm installed) for the accessibility tests")
    return AXE


@pytest.fixture
def a11y_page(browser, live_server, demo, axe_script):
    """A page whose context ignores our CSP, so axe-core can be injected."""
    context = _new_context(browser, live_server, bypass_csp=True)
    yield context.new_page()
    context.close()


def api_status(base_url: str, path: str, secret: str) -> int:
    """The status of GET /api/v1/<path> with the secret as a bearer token."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/{path}", headers={"Authorization": f"Bearer {secret}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


WIDER_THAN_375 = """() => Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > 375.5)
    .slice(0, 10)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
         + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\\s+/g, '.') : '')
         + ' right=' + Math.round(e.getBoundingClientRect().right))"""


def scrolls_sideways(page: Page) -> str | None:
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})"
    )
    if widths["scroll"] <= 375:
        return None
    return f"{page.url} scrolls sideways at 375 px ({widths}); too wide: {page.evaluate(WIDER_THAN_375)}"
