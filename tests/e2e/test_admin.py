"""End-to-end: the Django admin's API key pages in a real browser (demo user "admin", a superuser)."""

import re

import pytest
from playwright.sync_api import Page, expect

from apikeys.models import ApiKey

pytestmark = pytest.mark.e2e


def log_in_to_the_admin(page: Page) -> None:
    page.goto("/admin/login/")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill("admin-password")
    page.locator("input[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def add_key(page: Page, name: str) -> str:
    """Add a key with the admin's add form; return the secret its view-once page shows."""
    page.goto("/admin/apikeys/apikey/add/")
    page.locator("select[name=project]").select_option(label="Demo Project")
    page.locator("input[name=name]").fill(name)
    page.locator("input[name=permissions][value=can_read_project_in_project]").check()
    page.locator("input[name=_save]").click()
    secret = page.locator("#api-key-secret")
    expect(secret).to_be_visible()
    return secret.input_value()


def test_copy_button_on_the_view_once_page_puts_the_secret_on_the_clipboard(page: Page):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in_to_the_admin(page)
    secret = add_key(page, "copied-in-the-admin")

    copy = page.locator('[data-copy-target="api-key-secret"]')
    expect(copy).to_have_text("Copy")
    copy.click()

    expect(page.locator("#copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_a_keys_page_has_no_save_button_and_revokes_through_the_confirmation(page: Page):
    log_in_to_the_admin(page)
    add_key(page, "only-viewed")
    key = ApiKey.objects.get(name="only-viewed")

    page.goto(f"/admin/apikeys/apikey/{key.pk}/change/")

    expect(page.get_by_role("heading", level=1)).to_have_text("View API key")
    expect(page.locator("input[type=submit]")).to_have_count(0)
    expect(page.get_by_role("link", name="Close")).to_be_visible()
    expect(page.get_by_role("button", name="Revoke this API key…")).to_be_visible()

    page.get_by_role("button", name="Revoke this API key…").click()
    page.get_by_role("button", name="Yes, revoke API keys").click()

    expect(page.locator(".messagelist")).to_contain_text("Revoked 1 API key.")
    key.refresh_from_db()
    assert key.revoked_at is not None
