"""End-to-end: automated accessibility checks with axe-core (README, "Screenshots").

axe-core comes from npm (package.json; `make test` runs `npm ci` where npm
exists) and is injected into each page with Playwright. Our pages send a strict
Content-Security-Policy, so these tests use a context with `bypass_csp=True`.
Every page of the click path must have no "serious" or "critical" violation.

Also here: the htmx revoke result reaches the page's live region, focus in and
after the revoke dialog, visible focus, and no horizontal scrolling at 375 px.
"""

import re

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AXE, _new_context, scrolls_sideways
from tests.e2e.test_console import CREATE_KEYS, READ_PROJECT, create_key, demo_key, key_row, log_in
from tests.e2e.test_service_accounts import ACCOUNTS, AUTOMATION, account_url, wait_for_dialog

pytestmark = pytest.mark.e2e

BLOCKING = {"serious", "critical"}


def axe_violations(page: Page) -> list[dict]:
    """Inject axe-core (again after each navigation) and run it on the page."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(" ")),
            }));
        }"""
    )


def assert_accessible(page: Page, what: str, known=None) -> list[dict]:
    """No serious or critical violation, except those `known(violation)` accepts: they are returned."""
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    accepted = [v for v in blocking if known is not None and known(v)]
    blocking = [v for v in blocking if v not in accepted]
    report = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    targets: {', '.join(v['targets'][:8])}" for v in blocking
    )
    assert not blocking, f"axe found serious/critical violations on {what}:\n{report}"
    return accepted


def open_revoke_dialog(page: Page, name: str):
    page.goto("/projects/demo/api-keys/")
    # The link's accessible name is one phrase with the key's name in it.
    key_row(page, name).get_by_role("link", name=f"Revoke “{name}”", exact=True).click()
    dialog = page.get_by_role("dialog", name="Revoke API Key")
    expect(dialog).to_be_visible()
    page.wait_for_function(
        "() => { const d = document.getElementById('revoke-dialog');"
        " return d && d.open && d.contains(document.activeElement); }"
    )
    return dialog


# -- axe on every page of the click path -----------------------------------------


def test_axe_login_page(a11y_page: Page):
    a11y_page.goto("/accounts/login/")
    assert_accessible(a11y_page, "the log-in page")


def test_axe_login_page_with_an_error(a11y_page: Page):
    a11y_page.goto("/accounts/login/")
    a11y_page.get_by_label("Username").fill("alice")
    a11y_page.get_by_label("Password").fill("wrong")
    a11y_page.get_by_role("button", name="Log in").click()
    expect(a11y_page.get_by_role("alert")).to_be_visible()
    assert_accessible(a11y_page, "the log-in page with an error")


def test_axe_projects_and_overview(a11y_page: Page):
    log_in(a11y_page, "alice")
    assert_accessible(a11y_page, "/projects/")
    a11y_page.goto("/projects/demo/")
    assert_accessible(a11y_page, "the project overview")


def test_axe_api_keys_tab(a11y_page: Page, demo_keys):
    log_in(a11y_page, "alice")
    a11y_page.goto("/projects/demo/api-keys/?status=all")
    for name, status in (
        ("ci-deploy", "Active"),
        ("nightly-report", "Expires soon"),
        ("old-import", "Expired"),
        ("leaked-laptop", "Revoked"),
    ):
        expect(key_row(a11y_page, name).get_by_test_id("status")).to_have_text(status)
    assert_accessible(a11y_page, "the API Keys tab")


def test_axe_api_keys_tab_empty_and_filtered(a11y_page: Page):
    log_in(a11y_page, "alice")
    a11y_page.goto("/projects/demo/api-keys/")
    assert_accessible(a11y_page, "the empty API Keys tab")
    a11y_page.goto("/projects/demo/api-keys/?q=nothing-matches")
    assert_accessible(a11y_page, "the API Keys tab with no match")


def test_axe_create_form_and_secret_page(a11y_page: Page):
    log_in(a11y_page, "alice")
    a11y_page.goto("/projects/demo/api-keys/create/")
    # The manage warning is shown when the creation permission is ticked.
    a11y_page.locator(f'input[name="permissions"][value="{CREATE_KEYS}"]').check()
    assert_accessible(a11y_page, "the create form")

    # Submitting with no name: the form again, with errors.
    a11y_page.get_by_role("button", name="Create", exact=True).click()
    expect(a11y_page.locator(".field-error").first).to_be_visible()
    assert_accessible(a11y_page, "the create form with errors")

    create_key(a11y_page, "a11y-key")
    assert_accessible(a11y_page, "the view-once secret page")


def test_axe_revoke_dialog_and_page(a11y_page: Page, demo_keys):
    log_in(a11y_page, "alice")
    open_revoke_dialog(a11y_page, "ci-deploy")
    assert_accessible(a11y_page, "the API Keys tab with the revoke dialog open")

    a11y_page.goto(f"/projects/demo/api-keys/{demo_keys['active'].public_id}/revoke/")
    assert_accessible(a11y_page, "the revoke confirmation page (no JavaScript path)")


def test_axe_roll_dialog_and_page(a11y_page: Page, demo_keys):
    log_in(a11y_page, "alice")
    a11y_page.goto("/projects/demo/api-keys/")
    key_row(a11y_page, "ci-deploy").get_by_role("link", name="Roll “ci-deploy”").click()
    expect(a11y_page.get_by_role("dialog", name="Roll API Key")).to_be_visible()
    assert_accessible(a11y_page, "the API Keys tab with the roll dialog open")

    a11y_page.goto(f"/projects/demo/api-keys/{demo_keys['active'].public_id}/roll/")
    assert_accessible(a11y_page, "the roll confirmation page (no JavaScript path)")
    a11y_page.get_by_role("button", name="Roll API Key").click()
    expect(a11y_page.get_by_role("heading", name="API Key Rolled – View the New Secret")).to_be_visible()
    assert_accessible(a11y_page, "the rolled key's secret page")
    a11y_page.goto(f"/projects/demo/api-keys/{demo_keys['active'].public_id}/")
    assert_accessible(a11y_page, "a retiring key's page")


def test_axe_in_german(a11y_page: Page, live_server, demo_keys):
    log_in(a11y_page, "alice")
    a11y_page.context.add_cookies(
        [{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": "de", "url": live_server.url}]
    )
    detail = f"/projects/demo/api-keys/{demo_keys['active'].public_id}/"
    for path in ("/projects/demo/api-keys/", "/projects/demo/api-keys/create/", detail):
        a11y_page.goto(path)
        assert a11y_page.evaluate("document.documentElement.lang") == "de"
        assert_accessible(a11y_page, f"{path} in German")


@pytest.mark.parametrize("language", ["en", "de"])
def test_axe_service_account_pages(a11y_page: Page, live_server, language):
    """Every service-account page (SPEC §8) and "Move to a service account", in both languages.

    Selectors, not English labels: this runs in German too.
    """
    page = a11y_page
    key = demo_key("a11y-legacy-key", (READ_PROJECT,))
    log_in(page, "alice")
    page.context.add_cookies(
        [{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    )

    def check(what: str) -> None:
        assert page.evaluate("document.documentElement.lang") == language
        assert_accessible(page, f"{what} ({language})")

    def submit() -> None:
        page.locator("form.create-form button[type=submit]").click()
        page.wait_for_load_state()

    page.goto(ACCOUNTS)
    check("the service-account list")

    # Create: the form, with errors, then the new account's page with its next steps.
    page.goto(ACCOUNTS + "create/")
    check("the service-account create form")
    submit()
    expect(page.locator(".field-error").first).to_be_visible()
    check("the service-account create form with errors")
    page.locator("#id_name").fill("a11y-robot")
    page.locator("#id_description").fill("Checked by axe.")
    submit()
    expect(page.locator("#next-steps")).to_be_visible()
    detail = account_url("a11y-robot")
    check("a new service account's page (next steps)")

    # The membership form: empty, with errors, with the manage warning, then saved.
    page.goto(detail + "projects/demo/")
    check("the membership form")
    submit()
    if page.locator(".field-error").count():
        check("the membership form with errors")
    page.locator(f'input[name="permissions"][value="{READ_PROJECT}"]').check()
    page.locator(f'input[name="permissions"][value="{CREATE_KEYS}"]').check()
    expect(page.locator("#manage-warning")).to_be_visible()
    check("the membership form with the manage warning")
    submit()
    expect(page.locator("#membership-demo")).to_be_visible()

    # The credential form, with errors, and the view-once secret page.
    page.goto(detail + "credentials/create/")
    check("the credential form")
    submit()
    expect(page.locator(".field-error").first).to_be_visible()
    check("the credential form with errors")
    page.locator("#id_name").fill("a11y-credential")
    page.locator('input[name="expiration"][value="30"]').check()
    page.locator("#id_allowed_ips").fill("203.0.113.7")
    submit()
    expect(page.locator("#api-key-secret")).to_be_visible()
    check("the credential's view-once secret page")

    # The account's page with a credential, its revoke dialog, a confirmation page.
    page.goto(detail)
    check("a service account's page with a membership and a credential")
    page.locator("tr.key-entry a.revoke-link").first.click()
    wait_for_dialog(page)
    check("a service account's page with the revoke dialog open")
    for action in ("disable/", "delete/", "role/", "projects/demo/remove/"):
        page.goto(detail + action)
        check(f"the confirmation page {action}")

    # demo-automation: organization Admin, two projects; its credential form is refused to alice.
    page.goto(account_url(AUTOMATION))
    check("demo-automation's page")
    page.goto(account_url(AUTOMATION) + "credentials/create/")
    expect(page.locator(".notice-warning")).to_be_visible()
    check("the credential form, refused")

    # Move a key: the confirmation page, the moved key's secret page, both entries afterwards.
    page.goto(f"/projects/demo/api-keys/{key.public_id}/move/")
    check("the key move page")
    submit()
    expect(page.locator("#api-key-secret")).to_be_visible()
    check("the moved key's view-once secret page")
    page.goto(f"/projects/demo/api-keys/{key.public_id}/")
    expect(page.get_by_test_id("moved-to")).to_be_visible()
    check("a moved key's page")
    page.goto(account_url("a11y-legacy-key"))
    check("a moved key's service account")
    page.goto(f"/projects/demo/api-keys/{key.public_id}/move/")
    check("the key move page of a key already moved")
    page.goto("/projects/demo/")
    check("the project overview with its service accounts")


def label_in_name_check(page: Page) -> dict[str, list[str]]:
    """axe's label-content-name-mismatch rule alone (WCAG 2.5.3): the elements it passed and failed."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: ["label-content-name-mismatch"]});
            const targets = results => results.flatMap(p => p.nodes.map(n => n.target.join(" ")));
            return {passes: targets(r.passes), violations: targets(r.violations), incomplete: targets(r.incomplete)};
        }"""
    )


def test_german_revoke_links_are_named_in_one_german_phrase(a11y_page: Page, live_server, demo_keys):
    """„ci-deploy“ widerrufen, not "Widerrufen ci-deploy"; the visible word stays
    in the name, so axe's label-content-name-mismatch (WCAG 2.5.3) passes them."""
    log_in(a11y_page, "alice")
    a11y_page.context.add_cookies(
        [{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": "de", "url": live_server.url}]
    )
    for path, link in (
        ("/projects/demo/api-keys/", lambda: key_row(a11y_page, "ci-deploy")),
        (f"/projects/demo/api-keys/{demo_keys['active'].public_id}/", lambda: a11y_page.locator(".detail-actions")),
    ):
        a11y_page.goto(path)
        revoke = link().get_by_role("link", name="„ci-deploy“ widerrufen", exact=True)
        expect(revoke).to_have_text("Widerrufen")
        checked = label_in_name_check(a11y_page)
        assert checked["violations"] == [], path
        # Every labelled link was checked (and passed), the revoke links among them.
        assert len(checked["passes"]) == a11y_page.locator("a[aria-label]").count() > 0, (path, checked)


# -- what axe cannot see ---------------------------------------------------------


def test_create_form_groups_permissions_in_fieldsets(page: Page):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/create/")
    groups = page.locator("fieldset.perm-fieldset")
    assert groups.count() >= 2
    for index in range(groups.count()):
        group = groups.nth(index)
        expect(group.locator(":scope > legend")).to_have_count(1)
        legend = group.locator(":scope > legend").inner_text().strip()
        assert legend, "a permission group without a legend"
        expect(page.get_by_role("group", name=legend, exact=True)).to_have_count(1)
        # Every checkbox has an accessible name (its label).
        for box in group.locator('input[name="permissions"]').all():
            assert box.evaluate("b => b.labels.length") == 1


def test_htmx_revoke_is_announced_and_focus_returns(page: Page, demo_keys):
    log_in(page, "alice")
    dialog = open_revoke_dialog(page, "ci-deploy")
    messages = page.locator("#messages")
    assert messages.get_attribute("aria-live") == "polite"
    dialog.get_by_role("button", name="Revoke API Key").click()

    row = key_row(page, "ci-deploy")
    expect(row.get_by_test_id("status")).to_have_text("Revoked")
    expect(dialog).to_have_count(0)
    # Announced through the page's live region, which was there before the
    # change (a live region that is swapped in with its text is often not read).
    expect(messages).to_contain_text("API key “ci-deploy” was revoked.")
    # ... and only there: no second live region says the same thing.
    assert page.locator('[role="status"]:has-text("was revoked")').count() == 1
    # Focus lands on the revoked entry, not lost on <body>.
    page.wait_for_function("() => document.activeElement && document.activeElement.closest('tr.key-entry')")
    expect(row.get_by_role("link", name="ci-deploy", exact=True)).to_be_focused()


def test_dialog_keeps_focus_inside_and_escape_returns_it(page: Page, demo_keys):
    log_in(page, "alice")
    dialog = open_revoke_dialog(page, "nightly-report")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    # Tabbing stays inside the modal dialog (native showModal makes the rest inert).
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "() => document.getElementById('revoke-dialog').contains(document.activeElement)"
            " || document.activeElement === document.body"
        )
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(key_row(page, "nightly-report").get_by_role("link", name=re.compile(r"^Revoke"))).to_be_focused()


def test_keyboard_focus_is_visible(page: Page, demo_keys):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")
    page.keyboard.press("Tab")  # the skip link comes first and becomes visible
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["x"] >= 0, "the focused skip link stays off-screen"
    for _ in range(8):
        page.keyboard.press("Tab")
        style = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), tag: document.activeElement.tagName}; }"
        )
        if style["tag"] == "BODY":
            continue
        assert style["style"] != "none" and style["width"] >= 2, f"no visible focus outline: {style}"


# Every page of the console, logged in as alice (the 403 is a Viewer's create form in sandbox).
NARROW_PAGES = [
    "/accounts/login/",
    "/projects/",
    "/projects/demo/",
    "/projects/demo/api-keys/?status=all",
    "/projects/demo/api-keys/{active}/",
    "/projects/demo/api-keys/{revoked}/",
    "/projects/demo/api-keys/create/",
    "/projects/demo/api-keys/create/?from={active}",
    "/projects/demo/api-keys/{active}/revoke/",
    "/projects/demo/api-keys/{active}/roll/",
    "/projects/sandbox/api-keys/create/",
    "/projects/no-such-project/",
]


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_horizontal_scrolling_at_375px(browser, live_server, demo_keys, language):
    context = _new_context(browser, live_server, viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        log_in(page, "alice")
        # German words are longer; the language cookie is what the switcher sets.
        context.add_cookies([{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
        ids = {status: key.public_id for status, key in demo_keys.items()}
        problems = []
        for path in NARROW_PAGES:
            page.goto(path.format(**ids))
            assert page.evaluate("document.documentElement.lang") == language
            problems.append(scrolls_sideways(page))
        # The create form with errors, and the view-once page.
        page.goto("/projects/demo/api-keys/create/")
        page.locator("form.create-form button[type=submit]").click()
        page.wait_for_load_state()
        problems.append(scrolls_sideways(page))
        # Selectors, not English labels: this runs in German too.
        page.locator("#id_name").fill("a-rather-long-key-name-for-a-narrow-screen")
        page.locator('input[name="expiration"][value="30"]').check()
        page.locator(f'input[name="permissions"][value="{CREATE_KEYS}"]').check()
        page.locator("form.create-form button[type=submit]").click()
        expect(page.locator("#api-key-secret")).to_be_visible()
        problems.append(scrolls_sideways(page))
        # The revoke dialog.
        page.goto("/projects/demo/api-keys/")
        page.locator(f"#key-{ids['expires_soon']} a.revoke-link").click()
        page.wait_for_function("() => { const d = document.getElementById('revoke-dialog'); return d && d.open; }")
        problems.append(scrolls_sideways(page))
        assert not [problem for problem in problems if problem]
    finally:
        context.close()
