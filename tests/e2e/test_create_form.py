"""End-to-end: the create form in a real browser (issue 11: the matrix, the expiry, errors, Create).

What only a browser shows: the page's height, where focus goes, what the
script hides and computes, and what is posted with and without JavaScript.
"""

import json
import re
from datetime import date, datetime, time, timedelta
from time import sleep

import pytest
from django.conf import settings as django_settings
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format
from playwright.sync_api import Page, expect

from apikeys.forms import ApiKeyCreateForm
from apikeys.models import ApiKey
from projects import catalog
from tests.e2e.conftest import _new_context, _unavailable
from tests.e2e.test_accessibility import AXE, assert_accessible
from tests.e2e.test_console import READ_PROJECT, create_key, log_in

pytestmark = pytest.mark.e2e

CREATE_URL = "/projects/demo/api-keys/create/"
# Two screens of 1280 × 800.
HEIGHT_BUDGET = 1600
PROJECT_SAFE = [catalog.READ_PROJECT, catalog.READ_API_KEYS]


def boxes(page: Page):
    return page.locator('input[type="checkbox"][name="permissions"]')


def box(page: Page, codename: str):
    return page.locator(f'input[type="checkbox"][name="permissions"][value="{codename}"]')


def checked_codenames(page: Page) -> list[str]:
    return page.eval_on_selector_all('input[name="permissions"]:checked', "boxes => boxes.map(b => b.value)")


def open_form(page: Page, user: str = "alice") -> None:
    log_in(page, user)
    page.goto(CREATE_URL)
    expect(page.get_by_role("heading", name="Create API Key")).to_be_visible()


def expected_when(day: date, zone_name: str) -> str:
    """The end of `day` as the `when` filter writes it in English, worked out without Django."""
    end = datetime.combine(day, time(23, 59))
    return f"Expires on {end:%a}, {day.day} {end:%b} {day.year}, 23:59 {zone_name}"


@pytest.fixture
def axe_context(browser, live_server, demo):
    if not AXE.is_file():
        _unavailable(f"{AXE} not found: run `npm ci` for the accessibility tests")
    contexts = []

    def make(**options):
        context = _new_context(browser, live_server, bypass_csp=True, **options)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


# -- the page ---------------------------------------------------------------------


def test_the_whole_form_fits_in_two_screens_at_1280(browser, live_server, demo):
    context = _new_context(browser, live_server, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        open_form(page)
        expect(boxes(page)).to_have_count(len(catalog.CATALOG))
        expect(page.locator("#error-summary")).to_have_count(0)

        height = page.evaluate("document.documentElement.scrollHeight")

        assert height <= HEIGHT_BUDGET, f"the create form is {height} px tall at 1280 × 800 (at most {HEIGHT_BUDGET})"
    finally:
        context.close()


def test_matrix_checkboxes_are_named_by_their_permission(page: Page):
    open_form(page)

    metakube = page.get_by_role("group", name="MetaKube", exact=True)
    create_clusters = metakube.get_by_role("checkbox", name="Create clusters", exact=True)
    expect(create_clusters).to_have_attribute("value", "can_create_clusters_in_metakube")
    expect(page.get_by_label("View database backups")).to_have_attribute(
        "value", "can_read_backups_from_databases_in_dbaas"
    )
    # The whole cell is the target: a click beside the box ticks it.
    cell = create_clusters.locator("xpath=ancestor::td")
    cell.scroll_into_view_if_needed()
    cell_box, input_box = cell.bounding_box(), create_clusters.bounding_box()
    page.mouse.click(cell_box["x"] + 3, input_box["y"] + input_box["height"] / 2)
    expect(create_clusters).to_be_checked()


def test_dangerous_permissions_are_described_by_their_reason(page: Page):
    open_form(page)

    for codename in catalog.DANGEROUS:
        entry = catalog.BY_CODENAME[codename]
        expect(box(page, codename)).to_have_accessible_description(re.compile(re.escape(f"Dangerous {entry.danger}")))
    expect(box(page, catalog.READ_PROJECT)).not_to_have_attribute("aria-describedby", re.compile("."))


# -- select all, presets, the summary ------------------------------------------------


def test_select_all_skips_the_dangerous_ones(page: Page):
    open_form(page)
    project_all = page.get_by_role("checkbox", name="Select all of Project except the dangerous ones")

    project_all.check()

    assert checked_codenames(page) == PROJECT_SAFE
    # Its state counts only what it selects: a dangerous tick does not change it.
    box(page, catalog.CREATE_API_KEYS).check()
    expect(project_all).to_be_checked()
    assert project_all.evaluate("b => b.indeterminate") is False
    box(page, catalog.READ_PROJECT).uncheck()
    assert project_all.evaluate("b => b.indeterminate") is True
    # Unticking clears what it selects and leaves the dangerous one chosen.
    project_all.check()
    project_all.uncheck()
    assert checked_codenames(page) == [catalog.CREATE_API_KEYS]

    page.get_by_role("checkbox", name="Select all of MetaKube", exact=True).check()
    assert len([c for c in checked_codenames(page) if c.endswith("_in_metakube")]) == 8


def test_everything_leaves_the_dangerous_ones_out_until_confirmed(page: Page):
    open_form(page)
    page.get_by_role("textbox", name="Name").fill("typed before the preset")
    left_out = page.locator("#dangerous-left-out")
    expect(left_out).to_be_hidden()

    page.get_by_role("link", name="Everything I may grant").click()

    safe = [p.codename for p in catalog.CATALOG if p.codename not in catalog.DANGEROUS]
    assert checked_codenames(page) == safe
    expect(left_out).to_be_visible()
    expect(left_out).to_contain_text("4 dangerous permissions were left out: Become administrator of the project")
    expect(page.locator("#selection-count")).to_have_text(f"{len(safe)} permissions selected:")
    # Applied in place: what was typed stays.
    expect(page).to_have_url(re.compile(r"/api-keys/create/$"))
    expect(page.get_by_role("textbox", name="Name")).to_have_value("typed before the preset")

    page.get_by_role("link", name="Also grant the dangerous ones").click()

    assert checked_codenames(page) == [p.codename for p in catalog.CATALOG]
    expect(left_out).to_be_hidden()
    expect(page.locator("#selection-list")).to_contain_text("Delete the project Dangerous")
    expect(page.get_by_role("textbox", name="Name")).to_have_value("typed before the preset")

    page.get_by_role("link", name="Read only").click()
    assert checked_codenames(page) == [p.codename for p in catalog.CATALOG if p.codename in catalog.READ_ONLY]
    page.get_by_role("link", name="None", exact=True).click()
    assert checked_codenames(page) == []
    expect(page.locator("#selection-count")).to_have_text("No permission selected yet.")


def test_presets_without_javascript_are_links(nojs_page: Page):
    page = nojs_page
    open_form(page)

    page.get_by_role("link", name="Everything I may grant").click()

    expect(page).to_have_url(re.compile(r"\?preset=all$"))
    assert catalog.CREATE_API_KEYS not in checked_codenames(page)
    expect(page.locator("#dangerous-left-out")).to_be_visible()
    page.get_by_role("link", name="Also grant the dangerous ones").click()
    expect(page).to_have_url(re.compile(r"\?preset=all-with-dangerous$"))
    assert checked_codenames(page) == [p.codename for p in catalog.CATALOG]
    expect(page.locator("#dangerous-left-out")).to_be_hidden()


def test_the_creation_warning_shows_when_its_permission_is_ticked(page: Page):
    open_form(page)
    warning = page.locator("#manage-warning")
    expect(warning).to_be_hidden()

    box(page, catalog.CREATE_API_KEYS).check()

    expect(warning).to_be_visible()
    expect(page.locator("#selection-list")).to_have_text(re.compile(r"^API Key Creation Permission.* Dangerous$"))


# -- the expiry ---------------------------------------------------------------------


def test_the_date_is_offered_only_with_on_a_date(page: Page):
    open_form(page)
    picker = page.locator("#id_expires_on")
    today = timezone.localdate()
    expect(picker).to_have_attribute("min", (today + timedelta(days=1)).isoformat())
    expect(picker).to_have_attribute("max", (today + timedelta(days=36524)).isoformat())
    expect(picker).to_be_hidden()

    page.get_by_role("radio", name="On a date").check()
    expect(picker).to_be_visible()
    expect(picker).to_be_enabled()
    picker.fill((today + timedelta(days=10)).isoformat())

    # Another choice: the date goes away and is not sent.
    page.get_by_role("radio", name="30 days").check()
    expect(picker).to_be_hidden()
    expect(picker).to_be_disabled()
    before = timezone.now()
    create_key(page, "thirty-days")
    key = ApiKey.objects.get(name="thirty-days")
    assert before + timedelta(days=30) - timedelta(minutes=1) <= key.expires_at <= timezone.now() + timedelta(days=30)


def test_the_max_follows_the_lifetime_policy(page: Page, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 30
    open_form(page)

    expect(page.locator("#id_expires_on")).to_have_attribute(
        "max", (timezone.localdate() + timedelta(days=29)).isoformat()
    )


def test_the_shown_expiry_follows_the_choice_and_the_date(page: Page):
    open_form(page)
    result = page.locator("#expiry-result")
    expect(result).to_have_attribute("aria-live", "polite")
    thirty = page.get_by_role("radio", name="30 days")
    expect(result).to_have_text(page.get_by_role("radio", name="90 days").get_attribute("data-expiry-text"))

    thirty.check()
    expect(result).to_have_text(thirty.get_attribute("data-expiry-text"))
    assert thirty.get_attribute("data-expiry-text").startswith("Expires on ")
    page.get_by_role("radio", name="Never").check()
    expect(result).to_have_text("Never expires")
    page.get_by_role("radio", name="On a date").check()
    expect(result).to_have_text("Pick the date on which the key expires.")

    day = timezone.localdate() + timedelta(days=40)
    page.locator("#id_expires_on").fill(day.isoformat())
    expect(result).to_have_text(expected_when(day, "UTC"))

    page.locator("#id_expires_on").fill(timezone.localdate().isoformat())
    expect(result).to_have_text("The expiration date must be tomorrow or later.")


def test_the_shown_expiry_names_the_zone_of_that_date(page: Page, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    open_form(page)
    page.get_by_role("radio", name="On a date").check()
    next_year = timezone.localdate().year + 1

    for day, zone in ((date(next_year, 1, 15), "CET"), (date(next_year, 7, 15), "CEST")):
        page.locator("#id_expires_on").fill(day.isoformat())
        expect(page.locator("#expiry-result")).to_have_text(expected_when(day, zone))


def test_the_shown_expiry_is_in_the_page_language(page: Page, live_server):
    log_in(page, "alice")
    page.context.add_cookies([{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": "de", "url": live_server.url}])
    page.goto(CREATE_URL)
    day = timezone.localdate() + timedelta(days=50)

    page.locator('input[name="expiration"][value="custom"]').check()
    page.locator("#id_expires_on").fill(day.isoformat())

    end = datetime.combine(day, time(23, 59, 59), tzinfo=timezone.get_current_timezone())
    with translation.override("de"):
        expected = date_format(end, translation.pgettext("date format", "D, j M Y, H:i T"))
    # German names (Mo, Di, Mär, Okt …), as Django writes them; the words around may be translated.
    text = page.locator("#expiry-result").inner_text()
    assert text.endswith(expected), text


def test_a_typed_date_with_a_lifetime_chosen_is_refused_without_javascript(nojs_page: Page):
    page = nojs_page
    open_form(page)
    page.get_by_role("textbox", name="Name").fill("no-js-date")
    box(page, READ_PROJECT).check()
    picker = page.locator("#id_expires_on")
    expect(picker).to_be_visible()
    expect(page.get_by_role("radio", name="90 days")).to_be_checked()

    picker.fill((timezone.localdate() + timedelta(days=12)).isoformat())
    page.get_by_role("button", name="Create", exact=True).click()

    message = "You entered a date but chose “90 days”. Choose “On a date” to use it, or clear the date."
    expect(page.locator("#expires_on-errors")).to_have_text(message)
    expect(page.locator("#error-summary")).to_contain_text(message)
    expect(picker).to_have_attribute("aria-invalid", "true")
    assert not ApiKey.objects.filter(name="no-js-date").exists()


# -- errors and Create ----------------------------------------------------------------


def test_focus_goes_to_the_error_summary_and_its_links_to_the_fields(page: Page):
    open_form(page)
    page.get_by_role("button", name="Create", exact=True).click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()

    summary.get_by_role("link", name="Enter a name for the key.").click()
    expect(page.get_by_role("textbox", name="Name")).to_be_focused()
    summary.get_by_role("link", name="Choose at least one permission.").click()
    expect(boxes(page).first).to_be_focused()
    expect(boxes(page).first).to_have_accessible_description(re.compile("Choose at least one permission."))


def test_create_shows_it_is_working_and_submits_once(page: Page, monkeypatch):
    # A slow server (the live server runs in this process), to look at the form in between.
    calls = []
    create_key_now = ApiKeyCreateForm.create_key

    def slow_create_key(form, **kwargs):
        calls.append(form.cleaned_data["name"])
        sleep(1.5)
        return create_key_now(form, **kwargs)

    monkeypatch.setattr(ApiKeyCreateForm, "create_key", slow_create_key)
    open_form(page)
    page.get_by_role("textbox", name="Name").fill("just-once")
    box(page, READ_PROJECT).check()

    # While the request runs, the page notes what its form looks like and submits
    # again (a double click, Enter in a field); Playwright cannot look in between.
    page.evaluate(
        """() => window.addEventListener('submit', () => setTimeout(() => {
            const button = document.querySelector('button[data-busy-text]');
            sessionStorage.setItem('state', JSON.stringify([button.textContent,
                button.getAttribute('aria-disabled'), button.disabled,
                document.getElementById('create-form').getAttribute('aria-busy')]));
            document.getElementById('create-form').requestSubmit();
        }, 100), {once: true})"""
    )

    page.get_by_role("button", name="Create", exact=True).click()

    expect(page.locator("#api-key-secret")).to_be_visible(timeout=10_000)
    assert json.loads(page.evaluate("sessionStorage.getItem('state')")) == ["Creating…", "true", True, "true"]
    assert calls == ["just-once"], f"{len(calls)} submissions reached the server"
    assert ApiKey.objects.filter(name="just-once").count() == 1


def test_create_is_ready_again_when_the_page_comes_back(page: Page):
    open_form(page)
    # Keep the submission from leaving; then the page "comes back" from the back/forward cache.
    page.evaluate("() => window.addEventListener('submit', event => event.preventDefault())")
    button = page.get_by_role("button", name="Create", exact=True)
    button.click()
    # The disabled attribute itself (to_be_disabled would accept aria-disabled, set a moment earlier).
    expect(page.locator("button[data-busy-text][disabled]")).to_have_count(1)

    page.evaluate("() => window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")

    expect(button).to_be_enabled()
    expect(button).to_have_text("Create")
    expect(button).not_to_have_attribute("aria-disabled", "true")
    expect(page.locator("#create-form")).not_to_have_attribute("aria-busy", "true")


def test_create_stays_ready_when_the_page_comes_back_before_the_button_was_disabled(page: Page):
    # The button is disabled a task after the submission started; a page that
    # comes back in between must not be left with a dead button.
    open_form(page)
    page.evaluate("() => window.addEventListener('submit', event => event.preventDefault())")
    page.evaluate(
        """() => {
            document.querySelector("#create-form button[data-busy-text]").click();
            window.dispatchEvent(new PageTransitionEvent("pageshow", {persisted: true}));
        }"""
    )
    page.wait_for_timeout(100)  # past the deferred disabling

    button = page.get_by_role("button", name="Create", exact=True)
    expect(button).to_be_enabled()
    expect(page.locator("button[data-busy-text][disabled]")).to_have_count(0)


# -- narrow screens and accessibility ------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_checkbox_is_alone_on_a_line_at_375px(browser, live_server, demo, language):
    context = _new_context(browser, live_server, viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        log_in(page, "alice")
        context.add_cookies([{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
        page.goto(CREATE_URL)
        alone = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                '.perm-choice, .select-all, label.choice, .perm-matrix td label'
            )).filter(label => {
                const input = label.querySelector('input').getBoundingClientRect();
                // The first text a sighted reader sees beside the box.
                const text = Array.from(label.childNodes).find(n => n.nodeType === 3 ? n.textContent.trim()
                    : n.tagName === 'SPAN' && !n.classList.contains('visually-hidden'));
                const range = document.createRange();
                range.selectNodeContents(text);
                const first = range.getClientRects()[0];
                return !(first && first.left > input.right && first.top < input.bottom && first.bottom > input.top);
            }).map(label => label.textContent.trim())"""
        )
        assert alone == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


def test_axe_create_form_with_errors_in_english_german_and_dark_mode(axe_context, live_server):
    for options, language in (({}, "en"), ({}, "de"), ({"color_scheme": "dark"}, "en")):
        page = axe_context(**options).new_page()
        log_in(page, "alice")
        page.context.add_cookies(
            [{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
        )
        page.goto(CREATE_URL + "?preset=all")
        page.locator('input[name="expiration"][value="custom"]').check()
        box(page, catalog.CREATE_API_KEYS).check()
        assert_accessible(page, f"the create form ({language}, {options or 'light'})")
        page.locator("button[data-busy-text]").click()
        expect(page.locator("#error-summary")).to_be_focused()
        assert_accessible(page, f"the create form with errors ({language}, {options or 'light'})")
