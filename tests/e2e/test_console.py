"""End-to-end: the README's click path ("Demo log-ins", "Using a key") in a real browser.

Each test drives Debian's chromium against pytest-django's live server and
asserts what a user sees; the ORM and the JSON API check what happened.
"""

import json
import re
import urllib.error
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from apikeys.models import ApiKey
from projects.models import Project
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.e2e

READ_PROJECT = "can_read_project_in_project"
CREATE_KEYS = "can_create_api_keys_in_project"
DELETE_PROJECT = "can_delete_project_in_project"
WARNING = "You will not be able to retrieve the secret key again."


# -- helpers ---------------------------------------------------------------------


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/projects/$"))


def api_keys_tab(page: Page):
    return page.get_by_role("navigation", name="Project sections").get_by_role("link", name="API Keys")


def open_api_keys_tab(page: Page) -> None:
    """From /projects/: the project, then its "API Keys" tab (the seed's path)."""
    page.get_by_role("link", name="Demo Project").click()
    expect(page.get_by_role("heading", level=1, name="Demo Project")).to_be_visible()
    api_keys_tab(page).click()
    expect(page).to_have_url(re.compile(r"/projects/demo/api-keys/$"))
    expect(page.get_by_role("heading", level=2, name="API Keys")).to_be_visible()


def create_key(page: Page, name: str, permissions=(READ_PROJECT,), *, description="", tags="") -> str:
    """Fill and submit the create form (already open); return the shown secret."""
    page.get_by_role("textbox", name="Name").fill(name)
    if description:
        page.get_by_role("textbox", name="Description").fill(description)
    if tags:
        page.get_by_role("textbox", name="Tags").fill(tags)
    page.get_by_role("radio", name="30 days").check()
    for codename in permissions:
        page.locator(f'input[type="checkbox"][name="permissions"][value="{codename}"]').check()
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="API Key Created – View Secret")).to_be_visible()
    secret = page.locator("#api-key-secret").input_value()
    assert secret.startswith(f"{django_settings.API_KEY_PREFIX}_"), "no key in #api-key-secret"
    return secret


def key_row(page: Page, name: str):
    """The key's row in the table; its name is the row's header and links to the key's page."""
    return page.locator("tr.key-entry").filter(has=page.locator("a.key-name").get_by_text(name, exact=True))


def whoami(base_url: str, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}/api/v1/whoami", headers={"Authorization": f"Bearer {secret}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def navigate(page: Page, move) -> None:
    """Reload/back/forward, tolerating a refused navigation (net::ERR_CACHE_MISS)."""
    try:
        move()
    except PlaywrightError as error:
        if "net::" not in str(error):
            raise
    page.wait_for_load_state()


def secret_shown(page: Page, secret: str) -> bool:
    """Whether the secret is anywhere on the page: text, or an input's value.

    Retried while a navigation (e.g. to the browser's own error page after a
    refused resubmission) replaces the document under us.
    """
    for _ in range(20):
        try:
            values = page.evaluate("Array.from(document.querySelectorAll('input, textarea'), e => e.value)")
            return secret in page.content() or any(secret in value for value in values)
        except PlaywrightError as error:
            if "context was destroyed" not in str(error) and "navigating" not in str(error):
                raise
            page.wait_for_load_state()
    raise AssertionError("the page never settled")


def demo_key(name: str, permissions=(READ_PROJECT,)) -> ApiKey:
    alice = get_user_model().objects.get(username="alice")
    return ApiKeyFactory(
        project=Project.objects.get(slug="demo"), created_by=alice, name=name, permissions=list(permissions)
    )


# -- tests -----------------------------------------------------------------------


def test_seed_click_path_create_use_and_revoke(page: Page, live_server):
    log_in(page, "alice")
    open_api_keys_tab(page)
    page.get_by_role("link", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="Create API Key")).to_be_visible()

    secret = create_key(
        page, "ci-deploy", (READ_PROJECT, CREATE_KEYS), description="Deploys from CI", tags="ci, production"
    )
    expect(page.locator("#api-key-header")).to_have_value(f"Authorization: Bearer {secret}")
    expect(page.get_by_role("alert")).to_contain_text(WARNING)

    # The key works, with exactly the permissions ticked.
    status, body = whoami(live_server.url, secret)
    assert status == 200, body
    assert body["name"] == "ci-deploy"
    assert body["project"] == "demo"
    assert sorted(body["permissions"]) == sorted([READ_PROJECT, CREATE_KEYS])
    assert body["tags"] == ["ci", "production"]
    assert body["expires_at"]

    # "The API Key is created and displayed in the overview."
    api_keys_tab(page).click()
    row = key_row(page, "ci-deploy")
    expect(row.get_by_test_id("status")).to_have_text("Active")
    expect(row).to_contain_text("Deploys from CI")
    expect(row).to_contain_text("View the project")
    expect(row).to_contain_text("API Key Creation Permission")
    expect(row.locator(".tag")).to_have_text(["ci", "production"])
    expect(row).not_to_contain_text(secret)

    # Revoke in place: htmx loads a native <dialog>, no full page load.
    page.evaluate("window.__e2eNoReload = 'still the same document'")
    row.get_by_role("link", name="Revoke “ci-deploy”", exact=True).click()
    dialog = page.get_by_role("dialog", name="Revoke API Key")
    expect(dialog).to_be_visible()
    assert page.evaluate("document.getElementById('revoke-dialog').open") is True
    expect(dialog).to_contain_text("ci-deploy")
    dialog.get_by_role("button", name="Revoke API Key").click()

    expect(row.get_by_test_id("status")).to_have_text("Revoked")
    expect(dialog).to_have_count(0)
    expect(row.get_by_role("link", name=re.compile(r"^Revoke"))).to_have_count(0)
    assert page.evaluate("window.__e2eNoReload") == "still the same document"
    assert re.search(r"/projects/demo/api-keys/$", page.url)

    # The very next request with the key fails.
    status, body = whoami(live_server.url, secret)
    assert status == 401, body
    assert body["error"] == "invalid_token"


def test_copy_button_puts_the_secret_on_the_clipboard(page: Page):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/create/")
    secret = create_key(page, "copy-me")

    copy = page.locator('[data-copy-target="api-key-secret"]')
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(page.locator("#copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret


def test_reload_back_and_forward_never_show_the_secret_again(page: Page):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/create/")
    page.on("dialog", lambda dialog: dialog.accept())  # "Confirm form resubmission", if asked
    secret = create_key(page, "view-once")
    assert ApiKey.objects.filter(name__startswith="view-once").count() == 1

    # Reload re-sends the POST (or the browser refuses to): either way the
    # used one-time ticket creates nothing and the secret is not shown.
    navigate(page, page.reload)
    assert not secret_shown(page, secret), "the secret is shown again after a reload"
    assert ApiKey.objects.filter(name__startswith="view-once").count() == 1, "a reload created a second key"
    if re.search(r"/api-keys/$", page.url):
        expect(page.locator("#messages")).to_contain_text("already submitted, so no second key was created")

    # Back to the form, forward to where the secret page was, back again.
    page.goto("/projects/demo/api-keys/create/")
    secret = create_key(page, "view-once-2")
    for step, move in (("back", page.go_back), ("forward", page.go_forward), ("back again", page.go_back)):
        navigate(page, move)
        assert not secret_shown(page, secret), f"the secret is shown again after going {step}"
        assert ApiKey.objects.filter(name__startswith="view-once").count() == 2, f"going {step} created another key"
    assert sorted(ApiKey.objects.filter(name__startswith="view-once").values_list("name", flat=True)) == [
        "view-once",
        "view-once-2",
    ]


def test_revoke_without_javascript(nojs_page: Page):
    page = nojs_page
    key = demo_key("no-js-key")
    log_in(page, "alice")
    open_api_keys_tab(page)
    row = key_row(page, "no-js-key")
    expect(row.get_by_test_id("status")).to_have_text("Active")

    row.get_by_role("link", name=re.compile(r"^Revoke")).click()
    expect(page).to_have_url(re.compile(rf"/projects/demo/api-keys/{key.public_id}/revoke/$"))
    expect(page.get_by_role("heading", name="Revoke API Key")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("button", name="Revoke API Key").click()

    expect(page).to_have_url(re.compile(r"/projects/demo/api-keys/\?status=all$"))
    expect(page.locator("#messages")).to_contain_text("was revoked")
    expect(key_row(page, "no-js-key").get_by_test_id("status")).to_have_text("Revoked")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoke_dialog_with_the_keyboard_only(page: Page):
    key = demo_key("keyboard-key")
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")
    revoke = key_row(page, "keyboard-key").get_by_role("link", name=re.compile(r"^Revoke"))

    revoke.focus()
    expect(revoke).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Revoke API Key")
    expect(dialog).to_be_visible()
    page.wait_for_function(
        "() => { const d = document.getElementById('revoke-dialog');"
        " return d && d.open && d.contains(document.activeElement); }"
    )
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()

    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(revoke).to_be_focused()
    expect(key_row(page, "keyboard-key").get_by_test_id("status")).to_have_text("Active")
    key.refresh_from_db()
    assert key.revoked_at is None


def test_deprecation_switch_disables_create(page: Page, settings):
    demo_key("still-working")  # made before creation was switched off
    settings.API_KEYS_DEPRECATED = True
    settings.API_KEY_CREATION_DISABLED = True
    log_in(page, "alice")
    open_api_keys_tab(page)

    notice = page.get_by_role("note")
    expect(notice.get_by_role("heading", name="Deprecation Notice")).to_be_visible()
    expect(notice).to_contain_text("Existing API keys will continue to work")
    create = page.get_by_role("button", name="Create", exact=True)
    expect(create).to_be_disabled()
    expect(create).to_have_accessible_description(re.compile(r"Creating new API keys is disabled"))
    expect(page.get_by_role("link", name="Create", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Create a new key with these permissions")).to_have_count(0)
    expect(key_row(page, "still-working").get_by_test_id("status")).to_have_text("Active")

    # Typing the URL explains the same reason instead of a form.
    page.goto("/projects/demo/api-keys/create/")
    expect(page.get_by_role("alert")).to_contain_text("Creating new API keys is disabled")
    expect(page.get_by_role("button", name="Create", exact=True)).to_have_count(0)


def test_member_is_not_offered_permissions_they_do_not_hold(page: Page):
    log_in(page, "carol")
    open_api_keys_tab(page)
    page.get_by_role("link", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="Create API Key")).to_be_visible()
    boxes = page.locator('input[type="checkbox"][name="permissions"]')
    expect(boxes.and_(page.locator(f'[value="{READ_PROJECT}"]'))).to_have_count(1)
    expect(boxes.and_(page.locator(f'[value="{CREATE_KEYS}"]'))).to_have_count(1)
    expect(boxes.and_(page.locator(f'[value="{DELETE_PROJECT}"]'))).to_have_count(0)


def test_roll_in_the_dialog_then_the_old_secret_works_until_the_grace_ends(page: Page, live_server):
    key = demo_key("rolling-key")
    log_in(page, "alice")
    open_api_keys_tab(page)

    key_row(page, "rolling-key").get_by_role("link", name="Roll “rolling-key”").click()
    dialog = page.get_by_role("dialog", name="Roll API Key")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("radio", name="24 hours")).to_be_checked()
    dialog.get_by_role("radio", name="1 hour").check()
    dialog.get_by_role("button", name="Roll API Key").click()

    expect(page.get_by_role("heading", name="API Key Rolled – View the New Secret")).to_be_visible()
    secret = page.locator("#api-key-secret").input_value()
    assert whoami(live_server.url, secret)[0] == 200
    assert whoami(live_server.url, key.secret)[0] == 200  # the grace period
    page.get_by_role("link", name="Done: back to the API keys").click()
    rows = page.locator("tr.key-entry").filter(has=page.locator("a.key-name").get_by_text("rolling-key", exact=True))
    expect(rows).to_have_count(2)
    expect(rows.get_by_test_id("status")).to_have_text(["Active", "Retiring"])


def test_roll_without_javascript(nojs_page: Page, live_server):
    page = nojs_page
    key = demo_key("no-js-roll")
    log_in(page, "alice")
    open_api_keys_tab(page)

    key_row(page, "no-js-roll").get_by_role("link", name="Roll “no-js-roll”").click()
    expect(page).to_have_url(re.compile(rf"/projects/demo/api-keys/{key.public_id}/roll/$"))
    expect(page.get_by_role("heading", name="Roll API Key")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("radio", name="None: the old key stops at once").check()
    page.get_by_role("button", name="Roll API Key").click()

    expect(page.get_by_role("heading", name="API Key Rolled – View the New Secret")).to_be_visible()
    secret = page.locator("#api-key-secret").input_value()
    assert whoami(live_server.url, secret)[0] == 200
    assert whoami(live_server.url, key.secret)[0] == 401  # no grace: retired at once
