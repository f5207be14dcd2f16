"""End-to-end: the console's look and feel that a browser must measure.

The key table's height, dark mode, the styled error page, live filtering,
the language switcher, the key's own page and the revoke dialog's danger.
"""

import random
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from projects import catalog
from projects.models import Project
from tests.e2e.conftest import _new_context
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.test_console import key_row, log_in
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.e2e

DESCRIPTIONS = ["Deploys main from CI to production.", "", "Nightly usage report for the finance team.", ""]
TAGS = [[], ["ci"], ["prod", "ops"], ["staging", "team-a", "ci"]]


def realistic_keys(count: int) -> None:
    """Keys as a real project has them: names, some descriptions and tags, from
    one permission to all of them, a few about to expire."""
    alice = get_user_model().objects.get(username="alice")
    project = Project.objects.get(slug="demo")
    rng = random.Random(11)
    codenames = [entry.codename for entry in catalog.CATALOG]
    now = timezone.now()
    for n in range(count):
        ApiKeyFactory(
            project=project,
            created_by=alice,
            name=f"service-{n:02}-{rng.choice(['deploy', 'backup', 'metrics', 'terraform'])}",
            description=DESCRIPTIONS[n % len(DESCRIPTIONS)],
            tags=TAGS[n % len(TAGS)],
            permissions=rng.sample(codenames, rng.choice([1, 3, 8, 12, 24])),
            expires_at=now + timedelta(days=rng.choice([3, 30, 90, 365])),
        )


def test_a_page_of_25_keys_fits_in_one_and_a_half_screens(browser, live_server, demo):
    realistic_keys(30)
    context = _new_context(browser, live_server, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        log_in(page, "alice")
        page.goto("/projects/demo/api-keys/")
        expect(page.locator("tr.key-entry")).to_have_count(25)

        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= 1.5 * 900, f"25 keys take {height} px at 1440×900"
        # Compact, yet each row still shows its permissions by label and a visible Revoke.
        row = page.locator("tr.key-entry").first
        expect(row.locator(".perm-summary")).to_contain_text("permission")
        expect(row.get_by_role("link", name=re.compile(r"^Revoke"))).to_be_visible()
    finally:
        context.close()


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.documentElement).backgroundColor")


def luminance(rgb: str) -> float:
    red, green, blue = (int(part) for part in re.findall(r"\d+", rgb)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


@pytest.mark.parametrize("path", ["/accounts/login/", "/projects/demo/api-keys/"])
def test_dark_mode_follows_the_system_setting(browser, live_server, demo_keys, path):
    colours = {}
    for scheme in ("light", "dark"):
        context = _new_context(browser, live_server, color_scheme=scheme)
        try:
            page = context.new_page()
            log_in(page, "alice")
            page.goto(path)
            colours[scheme] = background(page)
        finally:
            context.close()

    assert luminance(colours["light"]) > 0.9
    assert luminance(colours["dark"]) < 0.15


def test_axe_is_clean_in_dark_mode(browser, live_server, demo_keys, axe_script):
    context = _new_context(browser, live_server, color_scheme="dark", bypass_csp=True)
    try:
        page = context.new_page()
        log_in(page, "alice")
        for path in (
            "/projects/demo/api-keys/?status=all",
            f"/projects/demo/api-keys/{demo_keys['active'].public_id}/",
            "/projects/demo/api-keys/create/",
        ):
            page.goto(path)
            assert_accessible(page, f"{path} in dark mode")
    finally:
        context.close()


def test_axe_is_clean_on_the_key_page(a11y_page: Page, demo_keys):
    log_in(a11y_page, "alice")
    for key in demo_keys.values():
        a11y_page.goto(f"/projects/demo/api-keys/{key.public_id}/")
        assert_accessible(a11y_page, f"the page of the {key.name} key")


def test_unknown_page_is_the_styled_404(page: Page, live_server):
    # pytest-django's live server runs with DEBUG off, as a deployment does.
    log_in(page, "alice")

    response = page.goto("/projects/no-such-project/api-keys/")

    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    # The console's look: its stylesheet applied, its header there.
    assert background(page) != "rgba(0, 0, 0, 0)"
    expect(page.get_by_role("link", name=re.compile("Cloud console"))).to_be_visible()
    expect(page.get_by_role("link", name="Back to my projects")).to_be_visible()


def test_search_filters_live_without_a_button(page: Page, demo_keys):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")
    expect(page.get_by_role("button", name="Filter")).to_be_hidden()
    page.evaluate("window.__sameDocument = true")

    page.get_by_role("searchbox", name="Search by name or tag").fill("laptop")

    # A search shows keys of every status: the revoked one too.
    expect(page.locator("tr.key-entry")).to_have_count(1)
    expect(key_row(page, "leaked-laptop").get_by_test_id("status")).to_have_text("Revoked")
    expect(page).to_have_url(re.compile(r"\?q=laptop(&status=)?$"))
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#key-list")).not_to_have_attribute("aria-busy", "true")

    page.get_by_role("searchbox", name="Search by name or tag").fill("")
    page.get_by_label("Status").select_option("expired")
    # Wait for the swap itself (the URL follows it), not for a count the old list also has.
    expect(page).to_have_url(re.compile(r"[?&]status=expired$"))
    expect(page.locator("#key-list")).not_to_have_attribute("aria-busy", "true")
    # The demo's two expired keys: seed_demo's and the fixture's.
    expect(page.locator("tr.key-entry")).to_have_count(2)
    expect(key_row(page, "old-import")).to_be_visible()
    expect(key_row(page, "legacy-billing-export")).to_be_visible()
    expect(key_row(page, "leaked-laptop")).to_have_count(0)


def test_default_view_hides_revoked_and_expired_keys_and_says_so(page: Page, demo_keys):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")

    expect(key_row(page, "ci-deploy")).to_be_visible()
    expect(key_row(page, "nightly-report")).to_be_visible()
    expect(key_row(page, "leaked-laptop")).to_have_count(0)
    expect(key_row(page, "old-import")).to_have_count(0)
    hidden = page.get_by_role("link", name=re.compile(r"revoked, expired or retired keys? hidden"))
    hidden.click()
    expect(key_row(page, "leaked-laptop")).to_be_visible()
    expect(key_row(page, "old-import")).to_be_visible()


def test_without_javascript_the_filter_and_language_buttons_are_there(nojs_page: Page, demo_keys):
    page = nojs_page
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")

    page.get_by_role("searchbox", name="Search by name or tag").fill("report")
    page.get_by_role("button", name="Filter").click()

    expect(page).to_have_url(re.compile(r"\?q=report(&status=)?$"))
    expect(page.locator("tr.key-entry")).to_have_count(1)
    expect(page.get_by_role("button", name="Language")).to_be_visible()


def test_the_language_switcher_applies_on_change(page: Page, demo_keys):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")
    expect(page.get_by_role("button", name="Language")).to_be_hidden()

    page.get_by_label("Display language").select_option("de")

    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page).to_have_url(re.compile(r"/projects/demo/api-keys/$"))
    expect(page.get_by_role("link", name="Erstellen", exact=True)).to_be_visible()


def test_the_key_page_and_revoking_from_it(page: Page, demo_keys):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")
    key_row(page, "ci-deploy").get_by_role("link", name="ci-deploy", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/api-keys/{demo_keys['active'].public_id}/$"))
    expect(page.get_by_role("heading", level=2, name=re.compile("^ci-deploy"))).to_be_visible()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.locator("#key-title").get_by_test_id("status")).to_have_text("Active")

    # Named for its key in one phrase; the visible word alone is "Revoke".
    revoke = page.get_by_role("link", name="Revoke “ci-deploy”", exact=True)
    expect(revoke).to_have_text("Revoke")
    revoke.click()
    dialog = page.get_by_role("dialog", name="Revoke API Key")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Revoke API Key").click()

    expect(page.locator("#key-title").get_by_test_id("status")).to_have_text("Revoked")
    expect(page.locator("#messages")).to_contain_text("was revoked")
    expect(page.get_by_role("link", name=re.compile(r"^Revoke"))).to_have_count(0)
    expect(page.locator("table").last).to_contain_text("API key revoked")


def test_the_revoke_dialog_looks_dangerous_and_can_be_closed(page: Page, demo_keys):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")
    key_row(page, "nightly-report").get_by_role("link", name=re.compile(r"^Revoke")).click()
    dialog = page.get_by_role("dialog", name="Revoke API Key")
    expect(dialog).to_be_visible()

    buttons = dialog.locator(".dialog-actions button")
    expect(buttons).to_have_text(["Cancel", "Revoke API Key"])
    confirm_colour = buttons.nth(1).evaluate("b => getComputedStyle(b).backgroundColor")
    red, green, blue = (int(part) for part in re.findall(r"\d+", confirm_colour)[:3])
    assert red > 150 and green < 80 and blue < 80, f"the confirm button is not solid red: {confirm_colour}"
    expect(dialog).to_contain_text("nightly-report")
    expect(dialog).to_contain_text("401 Unauthorized")

    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(key_row(page, "nightly-report").get_by_test_id("status")).to_have_text("Expires soon")


def test_a_new_key_was_created_just_now(page: Page, demo_keys):
    log_in(page, "alice")
    page.goto("/projects/demo/api-keys/")

    created = key_row(page, "ci-deploy").locator('td[data-label="Created"]')
    expect(created).to_contain_text("just now")
    expect(created).not_to_contain_text("0 minutes")
    used = key_row(page, "ci-deploy").locator('td[data-label="Last used"]')
    expect(used).to_have_text("2 hours ago")
    expect(used.locator("time")).to_have_attribute("title", re.compile(r"^\w{3}, \d{1,2} \w{3} \d{4}, \d\d:\d\d UTC$"))
