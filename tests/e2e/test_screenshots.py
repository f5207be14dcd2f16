"""Screenshots of the console for the README: `make screenshots`.

Runs only with SCREENSHOTS=1 (the make target sets it); otherwise skipped. The
pictures are of a throwaway test database: the demo users and a few keys in
each status, and a demo key whose secret means nothing anywhere else.
Full pages at 1280 px wide, the API Keys tab in dark mode, and at 375 px (a phone);
the service accounts (SPEC §8): the list, demo-automation's page, and moving a key.
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from tests.e2e.conftest import _new_context
from tests.e2e.test_console import CREATE_KEYS, READ_PROJECT, create_key, key_row, log_in
from tests.e2e.test_service_accounts import ACCOUNTS, AUTOMATION, account_url, demo_account
from tests.factories import CredentialFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("SCREENSHOTS") != "1", reason="screenshots are taken by `make screenshots` (SCREENSHOTS=1)"
    ),
]

OUT = Path(django_settings.BASE_DIR) / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 800}


def shoot(page: Page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # No blinking caret or half-finished transition in the picture; no focus ring
    # left over from a click.
    page.evaluate("() => document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    page.screenshot(path=str(OUT / name), full_page=True, animations="disabled", caret="hide")


@pytest.fixture
def desktop(browser, live_server, demo_keys):
    context = _new_context(browser, live_server, viewport=DESKTOP, locale="en-US")
    yield context.new_page()
    context.close()


def test_screenshots_desktop(desktop: Page):
    page = desktop
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    shoot(page, "login.png")

    log_in(page, "alice")
    shoot(page, "projects.png")

    page.goto("/projects/demo/api-keys/?status=all")
    for name in ("ci-deploy", "nightly-report", "old-import", "leaked-laptop"):
        expect(key_row(page, name)).to_be_visible()
    shoot(page, "api-keys-tab.png")

    key_row(page, "terraform-staging-runner").get_by_role("link", name="terraform-staging-runner", exact=True).click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    shoot(page, "key-detail.png")
    page.goto("/projects/demo/api-keys/?status=all")

    # A modal's backdrop covers the viewport only: make the viewport the whole
    # page, so the full-page picture is dimmed everywhere behind the dialog.
    page.set_viewport_size(
        {"width": DESKTOP["width"], "height": page.evaluate("document.documentElement.scrollHeight")}
    )
    key_row(page, "ci-deploy").get_by_role("link", name=re.compile(r"^Revoke")).click()
    expect(page.get_by_role("dialog", name="Revoke API Key")).to_be_visible()
    page.screenshot(path=str(OUT / "revoke-dialog.png"), full_page=True, animations="disabled", caret="hide")
    page.keyboard.press("Escape")
    page.set_viewport_size(DESKTOP)

    page.goto("/projects/demo/api-keys/create/")
    page.get_by_role("textbox", name="Name").fill("deploy-bot")
    page.get_by_role("textbox", name="Description").fill("Deploys the staging environment.")
    page.get_by_role("textbox", name="Tags").fill("ci, staging")
    page.get_by_role("radio", name="30 days").check()
    page.locator(f'input[name="permissions"][value="{READ_PROJECT}"]').check()
    shoot(page, "create-form.png")

    create_key(page, "demo-throwaway", (READ_PROJECT, CREATE_KEYS), description="A demo key.", tags="demo")
    shoot(page, "secret.png")


def test_screenshot_dark_mode(browser, live_server, demo_keys):
    context = _new_context(browser, live_server, viewport=DESKTOP, locale="en-US", color_scheme="dark")
    try:
        page = context.new_page()
        log_in(page, "alice")
        page.goto("/projects/demo/api-keys/")
        expect(key_row(page, "ci-deploy")).to_be_visible()
        shoot(page, "api-keys-tab-dark.png")
    finally:
        context.close()


def test_screenshot_mobile(browser, live_server, demo_keys):
    context = _new_context(browser, live_server, viewport=PHONE, locale="en-US", is_mobile=True)
    try:
        page = context.new_page()
        log_in(page, "alice")
        page.goto("/projects/demo/api-keys/?q=ci")
        expect(key_row(page, "ci-deploy")).to_be_visible()
        shoot(page, "api-keys-tab-mobile.png")
    finally:
        context.close()


def test_screenshots_service_accounts(desktop: Page, demo_keys):
    page = desktop
    # A second account beside the moved key's and demo-automation, with a credential of its own.
    CredentialFactory(service_account=demo_account("nightly-report-job", ("demo", "sandbox")), name="cron")
    log_in(page, "alice")

    # Moving the demo's ci-deploy key: the confirmation page, then confirmed.
    page.goto(f"/projects/demo/api-keys/{demo_keys['active'].public_id}/")
    page.get_by_role("link", name="Move to a service account").click()
    expect(page.get_by_role("heading", name="Move “ci-deploy” to a Service Account")).to_be_visible()
    shoot(page, "move-to-service-account.png")
    page.get_by_role("button", name="Move to a service account").click()
    expect(page.locator("#api-key-secret")).to_be_visible()

    page.goto(ACCOUNTS)
    for name in (AUTOMATION, "ci-deploy", "nightly-report-job"):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    shoot(page, "service-accounts.png")

    page.goto(account_url(AUTOMATION))
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    shoot(page, "service-account-detail.png")
