"""End-to-end: a key's usage on its page, "Create a narrower key", and the allowed-addresses field."""

import re

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from apikeys.models import ApiKey
from projects import catalog
from tests.e2e.conftest import api_status
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.test_console import create_key, log_in
from tests.e2e.test_create_form import CREATE_URL, checked_codenames

pytestmark = pytest.mark.e2e

WIDE = [catalog.READ_PROJECT, catalog.READ_API_KEYS, "can_become_viewer_in_openstack", "can_read_databases_in_dbaas"]


def ask(base_url: str, secret: str, permission: str) -> int:
    return api_status(base_url, f"whoami?permission={permission}", secret)


def open_key_page(page: Page, name: str) -> None:
    page.goto("/projects/demo/api-keys/")
    page.locator("a.key-name").get_by_text(name, exact=True).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_a_narrower_key_from_the_key_page_has_what_the_key_needed_and_works(page: Page, live_server):
    log_in(page, "alice")
    page.goto(CREATE_URL)
    wide = create_key(page, "wide-reader", WIDE)
    assert ask(live_server.url, wide, catalog.READ_PROJECT) == 200

    open_key_page(page, "wide-reader")
    uses = page.locator("li[data-codename]")
    expect(uses.filter(has_text="Last needed")).to_have_count(1)
    expect(uses.filter(has_text="Never checked through us")).to_have_count(3)
    expect(page.get_by_text("This key needed 1 of its 4 permissions in the last 30 days.")).to_be_visible()
    page.get_by_role("link", name="Create a narrower key").click()

    expect(page.locator("#narrower-notice")).to_contain_text("never checked through us")
    assert checked_codenames(page) == [catalog.READ_PROJECT]
    narrow = create_key(page, "narrow-reader", permissions=())
    assert ask(live_server.url, narrow, catalog.READ_PROJECT) == 200
    assert ask(live_server.url, narrow, catalog.READ_API_KEYS) == 403


def test_allowed_addresses_are_checked_in_the_form_and_enforced(page: Page, live_server):
    log_in(page, "alice")
    page.goto(CREATE_URL)
    field = page.get_by_role("textbox", name="Allowed addresses")
    expect(field).to_have_accessible_description(re.compile("IPv4 or IPv6 addresses or CIDR ranges, one per line"))
    field.fill("127.0.0.1/8")
    page.get_by_role("textbox", name="Name").fill("pinned-here")
    page.get_by_role("radio", name="30 days").check()
    page.locator(f'input[type="checkbox"][name="permissions"][value="{catalog.READ_PROJECT}"]').check()
    page.get_by_role("button", name="Create", exact=True).click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    summary.get_by_role("link", name="“127.0.0.1/8” has bits set after the prefix: did you mean 127.0.0.0/8?").click()
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-invalid", "true")
    assert field.input_value() == "127.0.0.1/8"  # what was typed stays
    field.fill("127.0.0.0/8\n::1")
    here = create_key(page, "pinned-here")
    page.goto(CREATE_URL)
    page.get_by_role("textbox", name="Allowed addresses").fill("203.0.113.0/24")
    elsewhere = create_key(page, "pinned-elsewhere")

    assert ask(live_server.url, here, catalog.READ_PROJECT) == 200
    assert ask(live_server.url, elsewhere, catalog.READ_PROJECT) == 403
    assert ApiKey.objects.get(name="pinned-here").allowed_ips == ["127.0.0.0/8", "::1"]
    open_key_page(page, "pinned-elsewhere")
    expect(page.get_by_test_id("allowed-ips")).to_have_text("203.0.113.0/24")


def test_axe_key_page_with_usage_and_the_narrower_form(a11y_page: Page, live_server):
    page = a11y_page
    log_in(page, "alice")
    page.goto(CREATE_URL)
    secret = create_key(page, "axe-usage", WIDE)
    assert secret.startswith(f"{django_settings.API_KEY_PREFIX}_")
    ask(live_server.url, secret, catalog.READ_PROJECT)
    ask(live_server.url, secret, catalog.CREATE_API_KEYS)  # refused: listed as asked for, not held
    for language in ("en", "de"):
        page.context.add_cookies(
            [{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
        )
        key = ApiKey.objects.get(name="axe-usage")
        page.goto(f"/projects/demo/api-keys/{key.public_id}/")
        assert_accessible(page, f"a key's page with usage ({language})")
        page.goto(f"{CREATE_URL}?narrower={key.public_id}")
        expect(page.locator("#narrower-notice")).to_be_visible()
        assert_accessible(page, f"the narrower key's form ({language})")
