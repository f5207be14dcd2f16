"""The console in German: Accept-Language, the language switcher, the catalog itself."""

import gettext
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from projects import catalog
from tests.factories import ApiKeyFactory, UserFactory
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,en;q=0.5"}
PO_FILE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
FAR_EXPIRY = datetime(2031, 3, 5, 12, 0, tzinfo=UTC)

# English words that are on the key list or the create form in English; none
# may be left on the German pages (codes, key names and tags are left out).
ENGLISH_UI_WORDS = [
    "Description",
    "Expiration",
    "Expires",
    "Permissions",
    "Permission",
    "Cancel",
    "never",
    "Never",
    "Revoke",
    "Create",
    "Created",
    "Last used",
    "Search",
    "Filter",
    "All statuses",
    "Active",
    "Expires soon",
    "days",
    "On a date",
    "Overview",
    "Projects",
    "Log out",
    "Signed in",
    "Key",
    "Keys",
    "View",
    "Delete",
    "Update",
    "Select all",
    "Warning",
    "Language",
    "Skip to content",
    "Cloud console",
    "just now",
    "ago",
    "dangerous",
    "Dangerous",
    "hidden",
    "History",
    "by",
]


@pytest.fixture(autouse=True)
def back_to_english():
    # The locale middleware leaves the request's language active in this
    # thread; later tests that call gettext directly expect the default.
    yield
    translation.deactivate()


def visible_text(response) -> str:
    """What a reader sees or hears: text, titles and ARIA labels, without <code>, scripts and styles."""
    parts: list[str] = []

    def walk(element):
        for attr in ("title", "aria-label", "placeholder", "alt"):
            if element.attrs.get(attr):
                parts.append(element.attrs[attr])
        if element.tag == "input" and element.attrs.get("type") in {"submit", "button"}:
            parts.append(element.attrs.get("value") or "")
        for child in element.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag not in {"code", "script", "style"}:
                walk(child)

    walk(parse(response))
    return " ".join(" ".join(parts).split())


def english_words_in(text: str) -> list[str]:
    return [word for word in ENGLISH_UI_WORDS if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)]


def html_lang(response) -> str:
    return parse(response).find("html").attrs["lang"]


def open_create_form(client, project) -> dict:
    response = client.get(reverse("apikeys:create", args=[project.slug]), **GERMAN)
    assert response.status_code == 200
    ticket = parse(response).find("input", name="ticket").attrs["value"]
    return {
        "name": "deploy-bot",
        "description": "",
        "tags": "ci",
        "expiration": "30",
        "ticket": ticket,
        "permissions": [catalog.READ_PROJECT],
    }


# -- Accept-Language ------------------------------------------------------------------------


def test_login_page_is_german_for_a_german_browser(client):
    response = client.get(reverse("login"), **GERMAN)

    assert response.status_code == 200
    assert '<html lang="de">' in response.content.decode()
    assert response["Content-Language"] == "de"
    text = visible_text(response)
    for german in ("Anmelden", "Benutzername", "Passwort", "Cloud-Konsole", "Sprache"):
        assert german in text
    assert "Log in" not in text and "Username" not in text


def test_project_list_is_german(client, project, admin_user):
    client.force_login(admin_user)

    response = client.get(reverse("projects:list"), **GERMAN)

    assert html_lang(response) == "de"
    text = visible_text(response)
    assert "Projekte" in text
    assert "Abmelden" in text
    assert "Angemeldet als" in text


def test_console_key_list_is_german_with_german_dates(client, project, admin_user):
    ApiKeyFactory(project=project, name="deploy-bot", tags=["ci"], expires_at=FAR_EXPIRY)
    ApiKeyFactory(
        project=project,
        name="nightly",
        expires_at=timezone.now() + timedelta(days=3),
        permissions=[catalog.READ_PROJECT, "can_delete_project_in_project", "can_read_clusters_in_metakube"],
    )
    ApiKeyFactory(project=project, name="forever", expires_at=None)
    client.force_login(admin_user)

    response = client.get(reverse("apikeys:list", args=[project.slug]), **GERMAN)

    assert response.status_code == 200
    assert html_lang(response) == "de"
    text = visible_text(response)
    for german in (
        "API-Schlüssel",
        "Erstellen",
        "Widerrufen",
        "Läuft ab",
        "Läuft bald ab",
        "Aktiv",
        "nie",
        "Zuletzt verwendet",
        "Erstellt",
        "Berechtigungen",
        "3 Berechtigungen · 1 gefährlich",
        "Cluster: anzeigen",
        "3 Schlüssel",
        "Nach Name oder Tag suchen",
        "Aktiv und bald ablaufend",
        "Alle Status",
        "Filtern",
        "Projekt anzeigen",
        "gerade eben",
        "in 4 Jahren",
    ):
        assert german in text, german
    assert "Mi, 05.03.2031, 12:00 UTC" in text
    assert english_words_in(text) == []


def test_create_form_is_german(client, project, admin_user):
    client.force_login(admin_user)

    response = client.get(reverse("apikeys:create", args=[project.slug]), **GERMAN)

    assert response.status_code == 200
    assert html_lang(response) == "de"
    text = visible_text(response)
    for german in (
        "API-Schlüssel erstellen",
        "Name",
        "Beschreibung",
        "Tags",
        "Ablauf",
        "Ablaufdatum",
        "30 Tage",
        "An einem Datum",
        "Nie",
        "Berechtigungen",
        "Projekt",
        "Projekt anzeigen",
        "Cluster erstellen",
        "Alle aus Projekt außer den gefährlichen auswählen",
        "Gefährlich",
        "Läuft ab am",
        "Erstellen",
        "Abbrechen",
    ):
        assert german in text, german
    assert english_words_in(text) == []
    # The codenames are what the server reads: they never change.
    boxes = parse(response).find_all("input", name="permissions")
    assert [box.attrs["value"] for box in boxes] == [p.codename for p in catalog.CATALOG]


def test_create_form_errors_are_german(client, project, admin_user):
    client.force_login(admin_user)
    data = open_create_form(client, project)
    data["permissions"] = []

    response = client.post(reverse("apikeys:create", args=[project.slug]), data, **GERMAN)

    assert response.status_code == 200
    assert "Wählen Sie mindestens eine Berechtigung aus." in visible_text(response)


def test_secret_page_is_german(client, project, admin_user):
    client.force_login(admin_user)
    data = open_create_form(client, project)

    response = client.post(reverse("apikeys:create", args=[project.slug]), data, **GERMAN)

    assert response.status_code == 201
    assert html_lang(response) == "de"
    page = parse(response)
    assert page.by_id("api-key-secret").attrs["value"].startswith(f"{settings.API_KEY_PREFIX}_")
    text = visible_text(response)
    for german in (
        "API-Schlüssel erstellt – geheimen Schlüssel anzeigen",
        "Geheimer Schlüssel von „deploy-bot“",
        "Kopieren",
        "Sie können den geheimen Schlüssel später nicht mehr abrufen.",
        "Fertig: zurück zu den API-Schlüsseln",
    ):
        assert german in text, german


def test_revoke_confirmation_keeps_the_english_label_in_english_and_translates_it_in_german(
    client, project, admin_user
):
    key = ApiKeyFactory(project=project, name="deploy-bot")
    client.force_login(admin_user)
    url = reverse("apikeys:revoke", args=[project.slug, key.public_id])

    english = parse(client.get(url)).find("button", class_="danger-solid").text()
    german = parse(client.get(url, **GERMAN)).find("button", class_="danger-solid").text()

    assert english == "Revoke API Key"
    assert german == "API-Schlüssel widerrufen"


def test_revoking_says_so_in_german(client, project, admin_user):
    key = ApiKeyFactory(project=project, name="deploy-bot")
    client.force_login(admin_user)

    response = client.post(reverse("apikeys:revoke", args=[project.slug, key.public_id]), follow=True, **GERMAN)

    assert "API-Schlüssel „deploy-bot“ wurde widerrufen." in visible_text(response)


def test_missing_permission_is_explained_in_german(client, project, viewer_user):
    client.force_login(viewer_user)

    response = client.get(reverse("apikeys:create", args=[project.slug]), **GERMAN)

    assert response.status_code == 403
    text = visible_text(response)
    assert "Sie benötigen in diesem Projekt die Berechtigung „Berechtigung zur Erstellung von API-Schlüsseln" in text
    assert "(can_create_api_keys_in_project)" in text


def test_admin_add_page_is_german(client, project):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))

    response = client.get(reverse("admin:apikeys_apikey_add"), **GERMAN)

    assert response.status_code == 200
    text = visible_text(response)
    assert "Der Schlüssel wird nach denselben Regeln erstellt wie in der Konsole" in text
    assert "Projekt: Projekt anzeigen (can_read_project_in_project)" in text


# -- English stays the default -------------------------------------------------------------


@pytest.mark.parametrize("accept_language", [None, "fr-FR,fr;q=0.9", "en-US,en;q=0.8"])
def test_english_is_the_default(client, project, admin_user, accept_language):
    ApiKeyFactory(project=project, name="deploy-bot", expires_at=FAR_EXPIRY)
    client.force_login(admin_user)
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}

    response = client.get(reverse("apikeys:list", args=[project.slug]), **headers)

    assert html_lang(response) == "en"
    text = visible_text(response)
    assert "API Keys" in text and "Revoke" in text and "Expires" in text
    assert "Wed, 5 Mar 2031, 12:00 UTC" in text
    assert "Widerrufen" not in text


# -- the language switcher -----------------------------------------------------------------


def test_every_page_has_a_switcher_that_works_without_javascript(client):
    page = parse(client.get(reverse("login")))

    form = page.find("form", class_="language-switcher")
    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == reverse("set_language")
    assert form.find("input", name="csrfmiddlewaretoken") is not None
    assert form.find("input", name="next").attrs["value"] == reverse("login")
    select = form.find("select", name="language")
    assert page.find("label", for_=select.attrs["id"]) is not None
    assert [(o.attrs["value"], o.text()) for o in select.find_all("option")] == [("en", "English"), ("de", "Deutsch")]
    assert select.find("option", value="en").has("selected")
    assert form.find("button", type="submit").text() == "Language"


def test_switcher_button_is_labelled_in_german(client):
    form = parse(client.get(reverse("login"), **GERMAN)).find("form", class_="language-switcher")

    assert form.find("button", type="submit").text() == "Sprache"
    assert form.find("select", name="language").find("option", value="de").has("selected")


def test_switching_to_german_sets_the_cookie_and_the_next_page_is_german(project, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    list_url = reverse("apikeys:list", args=[project.slug])
    form = parse(client.get(list_url)).find("form", class_="language-switcher")
    token = form.find("input", name="csrfmiddlewaretoken").attrs["value"]

    response = client.post(reverse("set_language"), {"language": "de", "next": list_url, "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert response["Location"] == list_url
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    page = client.get(list_url)  # the cookie wins over the (absent) Accept-Language
    assert html_lang(page) == "de"
    assert "API-Schlüssel" in visible_text(page)


def test_the_cookie_wins_over_accept_language(client, project, admin_user):
    client.force_login(admin_user)
    client.post(reverse("set_language"), {"language": "en", "next": "/projects/"})

    response = client.get(reverse("projects:list"), **GERMAN)

    assert html_lang(response) == "en"


def test_logged_out_visitors_can_switch_too(client):
    response = client.post(reverse("set_language"), {"language": "de", "next": reverse("login")})

    assert response.status_code == 302
    assert response["Location"] == reverse("login")  # not a detour through the log-in
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert "Anmelden" in visible_text(client.get(reverse("login")))


def test_switcher_does_not_redirect_elsewhere(client):
    response = client.post(reverse("set_language"), {"language": "de", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


# -- the catalog ---------------------------------------------------------------------------


ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def po_entries(path: Path) -> list[dict]:
    """Entries of a .po file: {"flags", "msgid", "msgid_plural", "msgstr": [...]} (header included)."""
    entries, current, key = [], None, None

    def unquote(line: str) -> str:
        quoted = line[line.index('"') + 1 : line.rindex('"')]
        return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(0)), quoted)

    for raw in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = raw.strip()
        if not line:
            if current is not None:
                entries.append(current)
            current, key = None, None
            continue
        if current is None:
            current = {
                "flags": set(),
                "msgctxt": None,
                "msgid": "",
                "msgid_plural": None,
                "msgstr": [],
                "obsolete": False,
            }
        if line.startswith("#~"):
            current["obsolete"] = True
        elif line.startswith("#,"):
            current["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith("msgctxt "):
            key, current["msgctxt"] = "msgctxt", unquote(line)
        elif line.startswith("msgid_plural "):
            key, current["msgid_plural"] = "msgid_plural", unquote(line)
        elif line.startswith("msgid "):
            key, current["msgid"] = "msgid", unquote(line)
        elif line.startswith("msgstr"):
            key = "msgstr"
            current["msgstr"].append(unquote(line))
        elif line.startswith('"'):
            if key == "msgstr":
                current["msgstr"][-1] += unquote(line)
            else:
                current[key] += unquote(line)
    return entries


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = po_entries(PO_FILE)
    header, messages = entries[0], entries[1:]

    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert "Language: de" in header["msgstr"][0]
    assert len(messages) > 150
    for entry in messages:
        assert not entry["obsolete"], entry["msgid"]
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        assert entry["msgstr"] and all(s.strip() for s in entry["msgstr"]), f"untranslated: {entry['msgid']!r}"
        if entry["msgid_plural"] is not None:
            assert len(entry["msgstr"]) == 2, entry["msgid"]


# The German glossary of ../shared/STYLE.md: one term per concept.
NOT_GLOSSARY = {
    r"\bAPI-Keys?\b": "API-Schlüssel",
    r"Geheimnis": "geheimer Schlüssel",
    r"Schlagw[oö]rt": "Tags",
    r"\bsperr|\bgesperrt": "widerrufen",
    r"\bRechte?n?\b": "Berechtigung",
    r"Verfall|Ablaufzeitpunkt": "Ablauf, Ablaufdatum, läuft ab am",
    r"Dienstkont": "Service-Account",
    r"Anmeldedaten": "Zugangsdaten",
}


def test_the_german_catalog_keeps_to_the_glossary_and_german_quotes():
    for entry in po_entries(PO_FILE)[1:]:
        for translated in entry["msgstr"]:
            for pattern, term in NOT_GLOSSARY.items():
                assert not re.search(pattern, translated), f"{translated!r}: the glossary says {term}"
            # „…“, never English “…” on their own.
            assert translated.count("„") == translated.count("“"), translated


def test_relative_times_are_inflected_in_german():
    from projects.templatetags import console

    def relative(value, now):
        # timesince keeps a number and its unit together with a no-break space.
        return console.relative(value, now).replace("\xa0", " ")

    now = timezone.now()
    with translation.override("de"):
        assert relative(now - timedelta(days=3, hours=1), now) == "vor 3 Tagen"
        assert relative(now + timedelta(days=62), now) == "in 2 Monaten"
        assert relative(now - timedelta(seconds=20), now) == "gerade eben"
    assert relative(now - timedelta(days=3, hours=1), now) == "3 days ago"
    assert relative(now + timedelta(days=62), now) == "in 2 months"
    assert relative(now - timedelta(seconds=20), now) == "just now"


def test_translations_keep_every_placeholder():
    for entry in po_entries(PO_FILE)[1:]:
        wanted = set(re.findall(r"%\(\w+\)s", entry["msgid"] + (entry["msgid_plural"] or "")))
        for translated in entry["msgstr"]:
            assert set(re.findall(r"%\(\w+\)s", translated)) == wanted, entry["msgid"]


def test_the_committed_mo_file_is_compiled_from_the_po_file():
    """Running needs no gettext, so the .mo in the repository must match the .po."""
    with MO_FILE.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    for entry in po_entries(PO_FILE)[1:]:
        context, msgid, plural = entry["msgctxt"], entry["msgid"], entry["msgid_plural"]
        if plural is None:
            found = compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)
            assert found == entry["msgstr"][0], msgid
        else:
            for count, wanted in ((1, entry["msgstr"][0]), (2, entry["msgstr"][1])):
                found = (
                    compiled.npgettext(context, msgid, plural, count)
                    if context
                    else compiled.ngettext(msgid, plural, count)
                )
                assert found == wanted, msgid


def test_every_catalog_label_and_group_is_translated():
    with translation.override("de"):
        for permission in catalog.CATALOG:
            assert str(permission.display_label) != permission.label, permission.label
        assert str(catalog.PROJECT) == "Projekt"
    # Django's Permission rows keep the plain English label.
    from projects.models import Project

    assert dict(Project._meta.permissions)[catalog.READ_PROJECT] == "View the project"


def test_status_labels_follow_the_language():
    from apikeys.models import Status

    with translation.override("de"):
        assert [str(label) for label in Status.labels] == ["Aktiv", "Läuft bald ab", "Abgelaufen", "Widerrufen"]
    assert [str(label) for label in Status.labels] == ["Active", "Expires soon", "Expired", "Revoked"]
