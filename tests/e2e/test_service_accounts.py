"""End-to-end: the service-account console pages (SPEC §8) and "Move to a service account".

The done-when walk first: with API keys deprecated and their creation
switched off, a user follows the API Keys tab to the service accounts, moves
a working key to a service account, uses the new credential against the API,
and revokes the old key, which then stops working while the credential goes
on. Then the same pages by keyboard only, without JavaScript, and at 375 px.
"""

import re

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from projects.models import Organization, Project
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountMembership
from tests.e2e.conftest import _new_context, api_status, scrolls_sideways
from tests.e2e.test_console import READ_PROJECT, demo_key, log_in
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.e2e

ORG = "demo-org"
ACCOUNTS = f"/orgs/{ORG}/service-accounts/"
AUTOMATION = "demo-automation"


# -- helpers ---------------------------------------------------------------------


def demo_account(name: str, projects=("demo",)) -> ServiceAccount:
    """A service account of demo-org that alice may manage: READ_PROJECT in each project (a Viewer in sandbox)."""
    return ServiceAccountFactory(
        organization=Organization.objects.get(slug=ORG),
        name=name,
        projects={Project.objects.get(slug=slug): [READ_PROJECT] for slug in projects},
    )


def account_url(name: str) -> str:
    account = ServiceAccount.objects.get(organization__slug=ORG, name=name, deleted_at__isnull=True)
    return f"{ACCOUNTS}{account.public_id}/"


def status_badge(page: Page):
    """The account's status badge in the detail page's heading."""
    return page.locator("#account-title").get_by_test_id("status")


def credential_row(page: Page, name: str):
    return page.locator("tr.key-entry").filter(has=page.locator(".key-name").get_by_text(name, exact=True))


def tab_to(page: Page, target, *, limit: int = 120) -> None:
    """Press Tab until `target` has the focus: it must be reachable by keyboard, in the page's order."""
    handle = target.element_handle()
    for _ in range(limit):
        if page.evaluate("element => document.activeElement === element", handle):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} never got the keyboard focus after {limit} presses of Tab")


def wait_for_dialog(page: Page, dialog_id: str = "confirm-dialog") -> None:
    """Until the dialog is open, holds the focus, and htmx has settled it.

    htmx focuses the [autofocus] element once more when it settles the swapped
    content (20 ms later, when it removes the htmx-added class): a key pressed
    before that would be undone.
    """
    page.wait_for_function(
        """id => { const d = document.getElementById(id);
            return d && d.open && !d.classList.contains('htmx-added') && d.contains(document.activeElement); }""",
        arg=dialog_id,
    )


# -- the done-when walk ----------------------------------------------------------


def test_move_a_working_key_to_a_service_account_then_revoke_the_key(page: Page, live_server, settings):
    # The key exists before creation is switched off; its secret is known here only.
    key = demo_key("legacy-deploy", (READ_PROJECT,))
    settings.API_KEYS_DEPRECATED = True
    settings.API_KEY_CREATION_DISABLED = True
    base = live_server.url
    assert api_status(base, "projects/demo", key.secret) == 200

    log_in(page, "alice")
    page.get_by_role("link", name="Demo Project").click()
    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="API Keys").click()
    expect(page).to_have_url(re.compile(r"/projects/demo/api-keys/$"))

    # The deprecation notice leads to the organization's service accounts.
    notice = page.get_by_role("note")
    expect(notice.get_by_role("heading", name="Deprecation Notice")).to_be_visible()
    notice.get_by_role("link", name="Head to the Service Accounts section for more information.").click()
    expect(page).to_have_url(re.compile(rf"{ACCOUNTS}$"))
    expect(page.get_by_role("heading", level=2, name="Service Accounts")).to_be_visible()
    expect(page.locator("tr.key-entry").filter(has_text=AUTOMATION)).to_be_visible()

    # The disabled create form explains, and leads to creating a service account instead.
    page.goto("/projects/demo/api-keys/create/")
    expect(page.get_by_role("alert")).to_contain_text("Creating new API keys is disabled")
    page.get_by_role("link", name="Create a service account").click()
    expect(page).to_have_url(re.compile(rf"{ACCOUNTS}create/$"))
    expect(page.get_by_role("heading", name="Create Service Account")).to_be_visible()

    # Back to the API Keys tab and its working key, and move it.
    page.go_back()
    page.go_back()
    expect(page).to_have_url(re.compile(rf"{ACCOUNTS}$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/projects/demo/api-keys/$"))
    page.get_by_role("link", name="legacy-deploy", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/projects/demo/api-keys/{key.public_id}/$"))
    page.get_by_role("link", name="Move to a service account").click()
    expect(page).to_have_url(re.compile(rf"/projects/demo/api-keys/{key.public_id}/move/$"))
    expect(page.get_by_role("heading", name="Move “legacy-deploy” to a Service Account")).to_be_visible()
    expect(page.get_by_role("textbox", name="Name of the service account")).to_have_value("legacy-deploy")
    page.get_by_role("button", name="Move to a service account").click()

    expect(
        page.get_by_role("heading", name="Moved to a Service Account – View the Credential's Secret")
    ).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("You will not be able to retrieve the secret key again.")
    secret = page.locator("#api-key-secret").input_value()
    assert secret.startswith(f"{django_settings.SERVICE_ACCOUNT_KEY_PREFIX}_"), "no credential in #api-key-secret"

    account = ServiceAccount.objects.get(organization__slug=ORG, name="legacy-deploy")
    assert account.moved_from_key_id == key.pk
    membership = ServiceAccountMembership.objects.get(service_account=account)
    assert membership.project.slug == "demo"
    assert list(membership.permissions) == [READ_PROJECT]

    # Both work: the credential, and the key until someone revokes it.
    assert api_status(base, "projects/demo", secret) == 200
    assert api_status(base, "whoami", secret) == 200
    assert api_status(base, "projects/demo", key.secret) == 200

    # Revoke the old key in the console, from the link on the secret page.
    page.get_by_role("link", name="View the old API key").click()
    expect(page).to_have_url(re.compile(rf"/projects/demo/api-keys/{key.public_id}/$"))
    expect(page.get_by_test_id("moved-to")).to_contain_text("legacy-deploy")
    expect(page.get_by_role("link", name="Move to a service account")).to_have_count(0)
    page.get_by_role("link", name="Revoke “legacy-deploy”", exact=True).click()
    dialog = page.get_by_role("dialog", name="Revoke API Key")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Revoke API Key").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(f"#key-{key.public_id}").get_by_test_id("status").first).to_have_text("Revoked")

    assert api_status(base, "projects/demo", key.secret) == 401
    assert api_status(base, "projects/demo", secret) == 200

    # The service account links back to the (now revoked) key.
    page.get_by_role("link", name="View its service account").click()
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^legacy-deploy"))).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("Moved from")
    expect(page.locator("dl.facts")).to_contain_text("Revoked")

    # The project's overview lists it among its service-account members.
    page.goto("/projects/demo/")
    members = page.get_by_role("region", name="Service accounts")
    expect(members.get_by_role("link", name="legacy-deploy", exact=True)).to_be_visible()
    expect(members.get_by_role("link", name=AUTOMATION, exact=True)).to_be_visible()


# -- keyboard only ---------------------------------------------------------------


def test_service_account_with_the_keyboard_only(page: Page, live_server):
    log_in(page, "alice")
    page.goto(ACCOUNTS)

    # Create the account.
    tab_to(page, page.get_by_role("link", name="Create", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create Service Account")).to_be_visible()
    tab_to(page, page.get_by_role("textbox", name="Name"))
    page.keyboard.type("keyboard-robot")
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Description")).to_be_focused()
    page.keyboard.type("Made without a mouse.")
    tab_to(page, page.get_by_role("button", name="Create", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^keyboard-robot"))).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("Service account “keyboard-robot” was created.")
    account = ServiceAccount.objects.get(organization__slug=ORG, name="keyboard-robot")
    assert account.description == "Made without a mouse."

    # Add it to a project through the chooser.
    chooser = page.get_by_role("combobox", name="Add to a project")
    tab_to(page, chooser)
    for _ in range(5):
        if chooser.input_value() == "demo":
            break
        page.keyboard.press("ArrowDown")
    expect(chooser).to_have_value("demo")
    tab_to(page, page.get_by_role("button", name="Choose permissions"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"{ACCOUNTS}{account.public_id}/projects/demo/$"))
    expect(page.get_by_role("heading", name="Add “keyboard-robot” to Demo Project")).to_be_visible()

    # Tick a permission with the space bar, and save.
    box = page.locator(f'input[name="permissions"][value="{READ_PROJECT}"]')
    expect(box).not_to_be_checked()
    tab_to(page, box)
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Add to project"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"{ACCOUNTS}{account.public_id}/$"))
    expect(page.locator("#membership-demo")).to_contain_text("Demo Project")
    membership = ServiceAccountMembership.objects.get(service_account=account)
    assert list(membership.permissions) == [READ_PROJECT]

    # Create a credential.
    tab_to(page, page.get_by_role("link", name="Create credential", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create a Credential of “keyboard-robot”")).to_be_visible()
    tab_to(page, page.get_by_role("textbox", name="Name"))
    page.keyboard.type("keyboard-ci")
    thirty = page.get_by_role("radio", name="30 days")
    tab_to(page, page.locator('input[name="expiration"]:checked'))
    for _ in range(6):
        if thirty.is_checked():
            break
        page.keyboard.press("ArrowDown")
    expect(thirty).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Create credential"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Credential Created – View Secret")).to_be_visible()
    secret = page.locator("#api-key-secret").input_value()
    assert secret.startswith(f"{django_settings.SERVICE_ACCOUNT_KEY_PREFIX}_")
    assert api_status(live_server.url, "projects/demo", secret) == 200
    tab_to(page, page.get_by_role("link", name="Done: back to the service account"))
    page.keyboard.press("Enter")

    # Revoke it through the dialog: Escape first closes it and gives the focus back.
    row = credential_row(page, "keyboard-ci")
    expect(row.get_by_test_id("status")).to_have_text("Active")
    revoke = row.get_by_role("link", name="Revoke “keyboard-ci”", exact=True)
    tab_to(page, revoke)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Revoke Credential")
    expect(dialog).to_be_visible()
    wait_for_dialog(page)
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(revoke).to_be_focused()
    assert Credential.objects.get(service_account=account).revoked_at is None

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    wait_for_dialog(page)
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Revoke Credential")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("Credential “keyboard-ci” was revoked.")
    expect(credential_row(page, "keyboard-ci").get_by_test_id("status")).to_have_text("Revoked")
    assert Credential.objects.get(service_account=account).revoked_at is not None
    assert api_status(live_server.url, "projects/demo", secret) == 401


# -- without JavaScript ----------------------------------------------------------


def test_disable_enable_and_remove_without_javascript(nojs_page: Page):
    # Not demo-automation: it holds every permission in sandbox, where alice is
    # only a Viewer, so she may disable it but not enable it again.
    page = nojs_page
    name = "nojs-robot"
    demo_account(name, ("demo", "sandbox"))
    log_in(page, "alice")
    page.goto(ACCOUNTS)
    page.get_by_role("link", name=name, exact=True).click()
    detail = account_url(name)
    expect(page).to_have_url(re.compile(rf"{detail}$"))
    expect(status_badge(page)).to_have_text("Active")

    # Disable: a full confirmation page, no dialog.
    page.get_by_role("link", name="Disable", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{detail}disable/$"))
    expect(page.get_by_role("heading", name="Disable Service Account")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("button", name="Disable", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{detail}$"))
    expect(page.locator("#messages")).to_contain_text(f"Service account “{name}” was disabled")
    expect(status_badge(page)).to_have_text("Disabled")
    assert ServiceAccount.objects.get(name=name).disabled_at is not None

    # Cancel goes back unchanged; Enable enables.
    page.get_by_role("link", name="Enable", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{detail}enable/$"))
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(rf"{detail}$"))
    expect(status_badge(page)).to_have_text("Disabled")
    page.get_by_role("link", name="Enable", exact=True).click()
    expect(page.get_by_role("heading", name="Enable Service Account")).to_be_visible()
    page.get_by_role("button", name="Enable", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{detail}$"))
    expect(page.locator("#messages")).to_contain_text(f"Service account “{name}” was enabled")
    expect(status_badge(page)).to_have_text("Active")
    assert ServiceAccount.objects.get(name=name).disabled_at is None

    # Remove its membership in the sandbox project.
    expect(page.locator("#membership-sandbox")).to_be_visible()
    page.locator("#membership-sandbox").get_by_role("link", name=re.compile(r"^Remove from ")).click()
    expect(page).to_have_url(re.compile(rf"{detail}projects/sandbox/remove/$"))
    expect(page.get_by_role("heading", name="Remove from Project")).to_be_visible()
    page.get_by_role("button", name="Remove", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{detail}$"))
    expect(page.locator("#messages")).to_contain_text(f"“{name}” was removed from")
    expect(page.locator("#membership-sandbox")).to_have_count(0)
    expect(page.locator("#membership-demo")).to_be_visible()
    assert list(
        ServiceAccountMembership.objects.filter(service_account__name=name).values_list("project__slug", flat=True)
    ) == ["demo"]


# -- 375 px wide -----------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "de"])
def test_service_account_pages_fit_375px(browser, live_server, demo, settings, language):
    key = demo_key("a-rather-long-key-name-to-move-on-a-narrow-screen")
    robot = demo_account("a-rather-long-service-account-name-for-a-narrow-screen", ("demo", "sandbox"))
    context = _new_context(browser, live_server, viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        log_in(page, "alice")
        context.add_cookies([{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
        automation = account_url(AUTOMATION)
        detail = f"{ACCOUNTS}{robot.public_id}/"
        problems = []
        for path in (
            ACCOUNTS,
            ACCOUNTS + "create/",
            automation,
            automation + "projects/demo/",
            automation + "credentials/create/",  # refused: alice lacks its sandbox permissions
            automation + "role/",
            detail,
            detail + "edit/",
            detail + "projects/demo/",
            detail + "credentials/create/",
            detail + "disable/",
            detail + "projects/sandbox/remove/",
            f"/projects/demo/api-keys/{key.public_id}/move/",
            "/projects/demo/",
        ):
            page.goto(path)
            assert page.evaluate("document.documentElement.lang") == language
            problems.append(scrolls_sideways(page))
        # The credential's view-once page (selectors, not English labels: this runs in German too).
        page.goto(detail + "credentials/create/")
        page.locator("#id_name").fill("a-rather-long-credential-name-for-a-narrow-screen")
        page.locator("#id_allowed_ips").fill("2001:db8:ffff:ffff:ffff:ffff:ffff:0/112\n203.0.113.7")
        page.locator("form.create-form button[type=submit]").click()
        expect(page.locator("#api-key-secret")).to_be_visible()
        problems.append(scrolls_sideways(page))
        # The detail page with that credential, and a confirmation dialog open on it.
        page.goto(detail)
        problems.append(scrolls_sideways(page))
        page.locator(f'a[href="{detail}disable/"]').click()
        wait_for_dialog(page)
        problems.append(scrolls_sideways(page))
        # The moved key's secret page.
        page.goto(f"/projects/demo/api-keys/{key.public_id}/move/")
        page.locator("form.create-form button[type=submit]").click()
        expect(page.locator("#api-key-secret")).to_be_visible()
        problems.append(scrolls_sideways(page))
        # The API Keys tab and create page once keys are deprecated: they lead to the service accounts.
        settings.API_KEYS_DEPRECATED = True
        settings.API_KEY_CREATION_DISABLED = True
        for path in ("/projects/demo/api-keys/", "/projects/demo/api-keys/create/"):
            page.goto(path)
            problems.append(scrolls_sideways(page))
        assert not [problem for problem in problems if problem]
    finally:
        context.close()
