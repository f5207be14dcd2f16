"""The console in German: Accept-Language, the language switcher, the catalog itself."""

import gettext
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from apikeys import services
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey
from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, RoleFactory, UserFactory, expired_api_key, role
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
        "Läuft bald ab",
        "Aktiv",
        "nie",
        "Zuletzt verwendet",
        "Erstellt",
        "Berechtigungen",
        "3 Berechtigungen · davon 1 gefährlich",
        "Cluster: anzeigen",
        "3 Schlüssel",
        "Nach Namen oder Tag suchen",
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
    page = parse(response)
    headers = [th.text() for th in page.find("table", class_="key-table").find("thead").find_all("th")]
    assert headers == ["Name", "Status", "Berechtigungen", "Schlüssel", "Ablauf", "Zuletzt verwendet", "Erstellt"]
    # The same word labels each row's cell where the table is stacked (narrow screens).
    labels = {td.attrs["data-label"] for td in page.find_all("td") if td.has("data-label")}
    assert "Ablauf" in labels and "Läuft ab" not in labels


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
        "Bestimmtes Datum",
        "Nie",
        "Berechtigungen",
        "Projekt",
        "Projekt anzeigen",
        "Cluster erstellen",
        "Alle Projekt-Berechtigungen außer den gefährlichen auswählen",
        "Schnellauswahl:",
        "Alle verfügbaren",
        "Gefährlich",
        "Läuft ab am",
        "Erstellen",
        "Abbrechen",
    ):
        assert german in text, german
    assert english_words_in(text) == []
    # The presets are buttons of a "Sie" interface: no "ich".
    presets = parse(response).find("div", class_="presets")
    assert [a.text() for a in presets.find_all("a")] == ["Nur Lesezugriff", "Alle verfügbaren", "Keine"]
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
    assert parse(response).by_id("error-summary-title").text() == "Der Schlüssel wurde nicht erstellt"


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
        "Geheimer Schlüssel von „deploy-bot“",
        "Kopieren",
        "Kopieren Sie den geheimen Schlüssel unbedingt und bewahren Sie ihn an einem sicheren Ort auf. "
        "Sie können ihn später nicht mehr abrufen.",
        "Fertig: zurück zu den API-Schlüsseln",
    ):
        assert german in text, german
    assert page.by_id("secret-title").text() == "API-Schlüssel erstellt – Ihr geheimer Schlüssel"
    assert page.find("label", for_="api-key-curl").text() == "Testaufruf"
    assert "Berechtigungen (1 Berechtigung · nur Lesezugriff)" in text
    facts = {dt.text(): dt.parent.find("dd").text() for dt in page.find("dl", class_="key-facts").find_all("dt")}
    assert facts["Ablauf"].startswith(("Mo, ", "Di, ", "Mi, ", "Do, ", "Fr, ", "Sa, ", "So, "))


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
    assert "Keine Berechtigung" in text
    assert (
        "Dafür fehlt Ihnen in diesem Projekt eine Berechtigung: "
        "„Berechtigung zur Erstellung von API-Schlüsseln (anzeigen, erstellen, widerrufen)“" in text
    )
    assert "(can_create_api_keys_in_project)" in text
    assert "Bitten Sie einen Administrator des Projekts, Ihrer Rolle diese Berechtigung zu erteilen." in text
    # Said once: not "die Berechtigung „Berechtigung zur …“".
    assert "Berechtigung „Berechtigung" not in text


def test_admin_add_page_is_german(client, project):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))

    response = client.get(reverse("admin:apikeys_apikey_add"), **GERMAN)

    assert response.status_code == 200
    text = visible_text(response)
    assert "Der Schlüssel wird nach denselben Regeln erstellt wie in der Konsole" in text
    assert "Projekt: Projekt anzeigen (can_read_project_in_project)" in text
    assert "Der geheime Schlüssel wird auf der nächsten Seite einmalig angezeigt." in text


# -- what a screen reader says -------------------------------------------------------------


def accessible_name(element) -> str:
    """An element's accessible name as a screen reader gets it: its aria-label,
    else its text, without what aria-hidden hides (visually hidden text counts)."""
    if element.attrs.get("aria-label"):
        return " ".join(element.attrs["aria-label"].split())

    def text(node) -> str:
        if isinstance(node, str):
            return node
        if node.attrs.get("aria-hidden") == "true":
            return ""
        return "".join(text(child) for child in node.children)

    return " ".join(text(element).split())


def shown_text(element) -> str:
    """What the eye reads: the text without visually hidden and aria-hidden parts."""

    def text(node) -> str:
        if isinstance(node, str):
            return node
        if "visually-hidden" in node.classes():
            return ""
        return "".join(text(child) for child in node.children)

    return " ".join(text(element).split())


ROW_LINKS = {
    "de": (
        GERMAN,
        "„deploy-bot“ widerrufen",
        "Widerrufen",
        "Neuen Schlüssel mit den Berechtigungen von „deploy-bot“ erstellen",
    ),
    "en": ({}, "Revoke “deploy-bot”", "Revoke", "Create a new key with the permissions of “deploy-bot”"),
}


@pytest.mark.parametrize("language", ROW_LINKS)
def test_a_rows_links_are_named_for_their_key_in_one_phrase(client, project, admin_user, language):
    headers, revoke_name, revoke_word, copy_name = ROW_LINKS[language]
    key = ApiKeyFactory(project=project, name="deploy-bot")
    ApiKeyFactory(project=project, name="nightly")
    client.force_login(admin_user)

    row = parse(client.get(reverse("apikeys:list", args=[project.slug]), **headers)).by_id(f"key-{key.public_id}")

    revoke = row.find("a", href=reverse("apikeys:revoke", args=[project.slug, key.public_id]))
    assert accessible_name(revoke) == revoke_name
    assert shown_text(revoke) == revoke_word
    # WCAG 2.5.3 (label in name): the name holds the visible word, case aside.
    assert revoke_word.lower() in revoke_name.lower()
    copy = row.find("a", class_="icon-link")
    assert accessible_name(copy) == copy_name
    assert shown_text(copy) == ""


@pytest.mark.parametrize("language", ROW_LINKS)
def test_the_key_pages_revoke_button_is_named_for_its_key_in_one_phrase(client, project, admin_user, language):
    headers, revoke_name, revoke_word, _ = ROW_LINKS[language]
    key = ApiKeyFactory(project=project, name="deploy-bot")
    client.force_login(admin_user)

    page = parse(client.get(reverse("apikeys:detail", args=[project.slug, key.public_id]), **headers))

    revoke = page.find("a", href=reverse("apikeys:revoke", args=[project.slug, key.public_id]))
    assert accessible_name(revoke) == revoke_name
    assert shown_text(revoke) == revoke_word


def test_every_row_names_its_own_key(client, project, admin_user):
    keys = [ApiKeyFactory(project=project, name=name) for name in ("alpha", "beta", "gamma")]
    client.force_login(admin_user)

    page = parse(client.get(reverse("apikeys:list", args=[project.slug]), **GERMAN))

    for key in keys:
        row = page.by_id(f"key-{key.public_id}")
        assert accessible_name(row.find("a", class_="revoke-link")) == f"„{key.name}“ widerrufen"
        assert accessible_name(row.find("a", class_="icon-link")) == (
            f"Neuen Schlüssel mit den Berechtigungen von „{key.name}“ erstellen"
        )


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


# The German glossary of ../shared/STYLE.md: one term per concept. Each
# pattern is what its "not" column forbids, with the term to use instead.
NOT_GLOSSARY = {
    r"(?i)\bapi[- ]?keys?\b": "API-Schlüssel",
    r"(?i)geheimnis": "geheimer Schlüssel",
    r"(?i)sperr": "widerrufen",
    # The verb only: "Rollen" (roles) is a word of the console.
    r"(?<![\wÄÖÜäöüß-])(rollen|gerollt)\b": "rotieren, Rotation",
    r"[Rr]echte?n?\b": "Berechtigung",
    r"(?i)ablaufzeitpunkt|verf[aä]ll": "Ablauf, Ablaufdatum, läuft ab am",
    r"(?i)schlagw[oö]rt": "Tags",
    r"(?i)dienstkont": "Service-Account",
    r"(?i)anmeldedaten|credential": "Zugangsdaten",
    r"Organization": "Organisation",
    r"\b(Members?|Viewers?)\b": "the roles Mitglied and Betrachter",
}
ROLE_GLOSSARY = {"Administrator": "Administrator", "Member": "Mitglied", "Viewer": "Betrachter"}
# The organization roles (SPEC §8); "Member" is the same word in both.
ROLE_GLOSSARY |= {"Owner": "Inhaber", "Admin": "Admin"}
INFORMAL = r"\b([Dd]u|[Dd]ein(e[mnrs]?)?|[Dd]ich|[Dd]ir|[Ee]uch|[Ee]uer)\b"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"


def glossary_problems(msgid: str, translated: str) -> list[str]:
    """What is wrong with `translated` (a German msgstr of `msgid`) by the glossary and house style."""
    problems = [f"the glossary says {term}" for pattern, term in NOT_GLOSSARY.items() if re.search(pattern, translated)]
    english = re.sub(r"%\(\w+\)\w|<[^>]*>", "", msgid)  # the words, not placeholders or markup
    # Revoking is "widerrufen", never deleting: "löschen" only where the English deletes.
    if re.search(r"(?i)\brevok", english) and not re.search(r"(?i)widerruf", translated):
        problems.append("revoke is widerrufen")
    if re.search(r"(?i)lösch", translated) and not re.search(r"(?i)delet", english):
        problems.append("löschen is for deleting, never for revoking")
    if re.search(INFORMAL, translated):
        problems.append("formal address (Sie)")
    if re.search(ISO_DATE, translated):
        problems.append("dates in the German format, never ISO")
    # „…“, never English “…” or "…" (quotes inside HTML tags are markup).
    text = re.sub(r"<[^>]*>", "", translated)
    if text.count("„") != text.count("“") or "”" in text or '"' in text:
        problems.append("German quotes „…“")
    return problems


@pytest.mark.parametrize(
    ("msgid", "translated"),
    [
        ("API key", "API-Key"),
        ("API keys", "API Keys"),
        ("Secret", "Geheimnis"),
        ("Revoke", "Sperren"),
        ("Revoked", "gesperrt"),
        ("Revoke the key", "Schlüssel löschen"),
        ("Revoke the key", "Schlüssel entfernen"),
        ("Roll the key", "Schlüssel rollen"),
        ("Permissions", "Rechte"),
        ("Expires at", "Ablaufzeitpunkt"),
        ("Expires on", "Verfällt am"),
        ("Expiry", "Verfallsdatum"),
        ("Tags", "Schlagwörter"),
        ("Service account", "Dienstkonto"),
        ("Credentials", "Anmeldedaten"),
        ("Credentials", "Credentials"),
        ("Organization", "Organization"),
        ("Member", "Member"),
        ("Viewers", "Viewer"),
        ("Copy your key", "Kopiere deinen Schlüssel"),
        ("Expires on %(date)s", "Läuft ab am 2027-02-24"),
        ("Secret key of “%(name)s”", "Geheimer Schlüssel von “%(name)s”"),
        ("Secret key of “%(name)s”", 'Geheimer Schlüssel von "%(name)s"'),
    ],
)
def test_the_glossary_check_catches_what_the_glossary_forbids(msgid, translated):
    assert glossary_problems(msgid, translated)


@pytest.mark.parametrize(
    ("msgid", "translated"),
    [
        ("Delete the project", "Projekt löschen"),
        ("a deleted user", "Gelöschter Benutzer"),
        ("Revoke API Key", "API-Schlüssel widerrufen"),
        ("Role", "Rolle"),
        ("roles", "Rollen"),
        ("Permissions", "Berechtigungen"),
        ("Members", "Mitglieder"),
        ('by the key <a href="%(parent_url)s">%(name)s</a>', 'vom Schlüssel <a href="%(parent_url)s">%(name)s</a>'),
        ("Expires on %(date)s", "Läuft ab am %(date)s"),
    ],
)
def test_the_glossary_check_lets_the_glossary_terms_pass(msgid, translated):
    assert glossary_problems(msgid, translated) == []


def test_the_german_catalog_keeps_to_the_glossary_and_german_quotes():
    for entry in po_entries(PO_FILE)[1:]:
        msgid = entry["msgid"] + " " + (entry["msgid_plural"] or "")
        for translated in entry["msgstr"]:
            assert glossary_problems(msgid, translated) == [], (entry["msgid"], translated)


def test_the_default_role_names_are_translated_as_the_glossary_says():
    roles = {e["msgid"]: e["msgstr"][0] for e in po_entries(PO_FILE)[1:] if e["msgctxt"] == "role"}

    assert roles == ROLE_GLOSSARY
    assert set(roles) == set(catalog.DEFAULT_ROLES) | set(catalog.DEFAULT_ORGANIZATION_ROLES)


# A number followed by a word: a counted noun, which needs its plural forms.
COUNTED = re.compile(r"%\((count|n|num|days|years|minutes|total|hidden|max)\)[sd] [A-Za-z]")


def test_every_counted_noun_has_plural_forms():
    for entry in po_entries(PO_FILE)[1:]:
        if COUNTED.search(entry["msgid"]):
            assert entry["msgid_plural"] is not None, f"ngettext or blocktranslate count: {entry['msgid']!r}"
            assert len(entry["msgstr"]) == 2, entry["msgid"]


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
        assert [str(label) for label in Status.labels] == [
            "Aktiv",
            "Läuft bald ab",
            "Wird abgelöst",
            "Abgelaufen",
            "Abgelöst",
            "Widerrufen",
        ]
    assert [str(label) for label in Status.labels] == [
        "Active",
        "Expires soon",
        "Retiring",
        "Expired",
        "Retired",
        "Revoked",
    ]


# -- role names ----------------------------------------------------------------------------


def test_default_role_names_follow_the_language_and_custom_roles_keep_theirs(db):
    from projects.models import Role

    auditor = RoleFactory(name="Auditor")
    with translation.override("de"):
        assert [catalog.role_name(name) for name in ROLE_GLOSSARY] == list(ROLE_GLOSSARY.values())
        assert str(role(catalog.MEMBER)) == "Mitglied"
        assert Role.objects.get(name=catalog.VIEWER).display_name == "Betrachter"
        assert str(auditor) == "Auditor"
    assert str(role(catalog.MEMBER)) == "Member"
    assert role(catalog.VIEWER).display_name == "Viewer"


def test_a_german_project_page_shows_the_default_roles_in_german(client, project, admin_user, member_user, viewer_user):
    MembershipFactory(project=project, user=UserFactory(username="erin"), role=RoleFactory(name="Auditor"))
    client.force_login(admin_user)
    url = reverse("projects:detail", args=[project.slug])

    german = visible_text(client.get(url, **GERMAN))
    english = visible_text(client.get(url))

    for row in ("alice Administrator", "bob Betrachter", "carol Mitglied", "erin Auditor"):
        assert row in german, row
    assert not re.search(r"\b(Member|Viewer)\b", german)
    for row in ("alice Administrator", "bob Viewer", "carol Member", "erin Auditor"):
        assert row in english, row


@pytest.mark.parametrize(("fixture", "german"), [("member_user", "Mitglied"), ("viewer_user", "Betrachter")])
def test_the_german_project_list_shows_ones_role_in_german(client, project, request, fixture, german):
    client.force_login(request.getfixturevalue(fixture))

    response = client.get(reverse("projects:list"), **GERMAN)

    assert parse(response).find("span", class_="badge").text() == german


def test_the_german_admin_shows_the_default_roles_in_german(client, project, superuser, member_user, viewer_user):
    client.force_login(superuser)

    memberships = visible_text(client.get(reverse("admin:projects_membership_changelist"), **GERMAN))
    roles = visible_text(client.get(reverse("admin:projects_role_changelist"), **GERMAN))

    assert "carol als Mitglied in Demo Project" in memberships
    assert "bob als Betrachter in Demo Project" in memberships
    for text in (memberships, roles):
        assert "Mitglied" in text and "Betrachter" in text
        assert not re.search(r"\b(Member|Viewer)\b", text)


# -- the admin in German -------------------------------------------------------------------


def our_admin_models():
    from django.contrib import admin

    return [
        model for model in admin.site._registry if model._meta.app_label in {"projects", "apikeys", "serviceaccounts"}
    ]


def test_every_app_model_and_field_name_of_the_admin_is_translatable():
    from django.apps import apps
    from django.utils.functional import Promise

    models = our_admin_models()
    assert {model.__name__ for model in models} == {
        "Project",
        "Role",
        "Membership",
        "ApiKey",
        "AuditEvent",
        "Organization",
        "OrganizationRole",
        "OrganizationMembership",
        "ServiceAccount",
        "Credential",
        "ServiceAccountEvent",
    }
    for label in ("projects", "apikeys", "accounts", "serviceaccounts"):
        config = apps.get_app_config(label)
        assert isinstance(config.verbose_name, Promise), label
        with translation.override("en"):
            english = str(config.verbose_name)
        with translation.override("de"):
            assert str(config.verbose_name) != english, label
    # A word both languages share needs no translation; anything else does.
    same_in_german = {"name", "tags", "token"}
    for model in models:
        names = [model._meta.verbose_name, model._meta.verbose_name_plural]
        names += [f.verbose_name for f in model._meta.get_fields() if hasattr(f, "verbose_name") and not f.auto_created]
        for name in names:
            assert isinstance(name, Promise), (model.__name__, name)
            english = str(name)
            with translation.override("de"):
                assert str(name) != english or english in same_in_german, (model.__name__, english)


def test_the_german_admin_index_names_apps_and_models_in_german(client, superuser):
    client.force_login(superuser)

    german = visible_text(client.get(reverse("admin:index"), **GERMAN))
    english = visible_text(client.get(reverse("admin:index")))

    for name in ("Projekte", "Rollen", "Mitgliedschaften", "API-Schlüssel", "Audit-Ereignisse"):
        assert name in german, name
    for name in ("Projects", "Roles", "Memberships", "API keys", "Audit events"):
        assert not re.search(rf"\b{name}\b", german), name
        assert name in english, name


def test_a_german_admin_change_form_names_its_fields_in_german(client, project, superuser, admin_user):
    key = ApiKeyFactory(project=project, name="deploy-bot", created_by=admin_user)
    client.force_login(superuser)
    url = reverse("admin:apikeys_apikey_change", args=[key.pk])

    german = visible_text(client.get(url, **GERMAN))
    english = visible_text(client.get(url))

    for label in (
        "API-Schlüssel ansehen",
        "Öffentliche ID:",
        "Projekt:",
        "Beschreibung:",
        "Ablauf:",
        "Erstellt am:",
        "Erstellt von:",
        "Erstellt vom Schlüssel:",
        "Zuletzt verwendet:",
        "Widerrufen am:",
        "Widerrufen vom Schlüssel:",
        "Pepper-Version:",
    ):
        assert label in german, label
    for label in (
        "View API key",
        "Public id:",
        "Project:",
        "Expires at:",
        "Created at:",
        "Last used at:",
        "Revoked at:",
    ):
        assert label not in german, label
        assert label in english, label


def test_the_german_role_form_names_permissions_by_their_german_labels(client, superuser):
    client.force_login(superuser)
    url = reverse("admin:projects_role_change", args=[role(catalog.VIEWER).pk])

    text = visible_text(client.get(url, **GERMAN))

    assert "Betrachter" in text
    assert "Projekt: Projekt anzeigen (can_read_project_in_project)" in text
    assert "MetaKube: Cluster anzeigen (can_read_clusters_in_metakube)" in text
    assert "Projects | project" not in text and "View the project" not in text


def test_the_german_audit_trail_names_an_acting_key_in_german(client, project, superuser):
    parent = ApiKeyFactory(project=project, name="parent", permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    ApiKeyFactory(project=project, name="child", created_by_key=parent, created_by=None, expires_at=parent.expires_at)
    client.force_login(superuser)

    text = visible_text(client.get(reverse("admin:apikeys_auditevent_changelist"), **GERMAN))

    assert f"API-Schlüssel parent ({parent.public_id})" in text
    assert "API key" not in text


# -- dates ---------------------------------------------------------------------------------


def german_click_path(client, project, admin_user, viewer_user, settings) -> dict[str, str]:
    """The visible text of every German page from the key list to a revoked key, with dates on each."""
    parent = ApiKeyFactory(
        project=project,
        name="parent",
        tags=["ci"],
        permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS],
        created_by=admin_user,
        expires_at=FAR_EXPIRY,
    )
    child = ApiKeyFactory(
        project=project,
        name="child",
        created_by_key=parent,
        created_by=None,
        expires_at=timezone.now() + timedelta(days=3),
    )
    services.api_key_revoke(api_key=child, revoked_by=None, revoked_by_key=parent)
    expired_api_key(project=project, name="old")
    client.force_login(admin_user)
    pages = {
        "key list": client.get(reverse("apikeys:list", args=[project.slug]) + "?status=all", **GERMAN),
        "key detail": client.get(reverse("apikeys:detail", args=[project.slug, parent.public_id]), **GERMAN),
        "revoked key": client.get(reverse("apikeys:detail", args=[project.slug, child.public_id]), **GERMAN),
        "revoke confirmation": client.get(reverse("apikeys:revoke", args=[project.slug, parent.public_id]), **GERMAN),
    }
    # A lifetime cap puts the latest allowed date into the form's error.
    settings.API_KEY_MAX_LIFETIME_DAYS = 30
    data = open_create_form(client, project)
    data.update(expiration="custom", expires_on=(timezone.localdate() + timedelta(days=60)).isoformat())
    pages["create form with errors"] = client.post(reverse("apikeys:create", args=[project.slug]), data, **GERMAN)
    data = open_create_form(client, project)
    pages["secret"] = client.post(reverse("apikeys:create", args=[project.slug]), data, **GERMAN)
    client.force_login(viewer_user)
    pages["403"] = client.get(reverse("apikeys:create", args=[project.slug]), **GERMAN)
    expected = {"create form with errors": 200, "secret": 201, "403": 403}
    for name, response in pages.items():
        assert response.status_code == expected.get(name, 200), name
    return {name: visible_text(response) for name, response in pages.items()}


def test_no_german_page_of_the_click_path_shows_an_iso_date(client, project, admin_user, viewer_user, settings):
    pages = german_click_path(client, project, admin_user, viewer_user, settings)

    for name, text in pages.items():
        assert not re.search(ISO_DATE, text), (name, re.search(rf".{{0,60}}{ISO_DATE}.{{0,20}}", text).group(0))
    # Each page did show its dates, the German way.
    german_date = r"\b\d{2}\.\d{2}\.\d{4}\b"
    for name in ("key list", "key detail", "revoked key", "create form with errors", "secret"):
        assert re.search(german_date, pages[name]), name
    assert re.search(
        r"Wählen Sie ein Ablaufdatum bis spätestens \w\w, \d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC: "
        r"Ein Schlüssel ist höchstens 30 Tage gültig\.",
        pages["create form with errors"],
    )
    assert "Mi, 05.03.2031, 12:00 UTC" in pages["key detail"]


def test_the_admins_date_help_is_german_and_its_example_is_accepted(client, project, superuser):
    client.force_login(superuser)
    response = client.get(reverse("admin:apikeys_apikey_add"), **GERMAN)
    help_text = visible_text(response)
    assert "zum Beispiel 31.01.2030 00:00, in der Zeitzone UTC" in help_text
    assert not re.search(ISO_DATE, help_text)
    assert "for example 2030-01-31 00:00, in the time zone UTC" in visible_text(
        client.get(reverse("admin:apikeys_apikey_add"))
    )

    data = {
        "project": project.pk,
        "name": "from-the-german-admin",
        "description": "",
        "tags": "",
        "expires_at": "31.01.2030 00:00",
        "permissions": [catalog.READ_PROJECT],
        "ticket": parse(response).find("input", name="ticket").attrs["value"],
    }
    created = client.post(reverse("admin:apikeys_apikey_add"), data, **GERMAN)

    assert created.status_code == 201, visible_text(created)
    assert ApiKey.objects.get(name="from-the-german-admin").expires_at == datetime(2030, 1, 31, tzinfo=UTC)


def test_a_refused_expiry_names_the_latest_date_in_german_and_the_api_keeps_iso(client, project, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 30
    now = timezone.now()

    def refusal(**values):
        try:
            services.api_key_create(
                project=project,
                name="k",
                permissions=[catalog.READ_PROJECT],
                created_by=UserFactory(is_superuser=True),
                **values,
            )
        except ApiKeyError as error:
            return error.message
        raise AssertionError("not refused")

    latest = now + timedelta(days=30)
    with translation.override("de"):
        german = refusal(expires_at=None)
        too_late = refusal(expires_at=now + timedelta(days=60))
    english = refusal(expires_at=None)

    assert re.fullmatch(
        r"Ein Ablaufdatum ist erforderlich\. Es darf nicht nach dem \d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC liegen\.",
        german,
    )
    assert f"nach dem {latest:%d.%m.%Y}, " in german
    assert re.fullmatch(
        r"Das Ablaufdatum darf laut Richtlinie nicht nach dem \d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC liegen\.",
        too_late,
    )
    assert f"nach dem {latest:%d.%m.%Y}, " in too_late
    assert re.fullmatch(
        r"An expiration date is required; the latest allowed is \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.", english
    )


def test_the_api_answers_in_english_with_iso_dates_whatever_the_browser_says(client, project):
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    later = parent.expires_at + timedelta(days=1)
    body = {"name": "child", "permissions": [catalog.READ_PROJECT], "expires_at": later.isoformat()}

    response = client.post(
        "/api/v1/projects/demo/api-keys",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {parent.secret}",
        **GERMAN,
    )

    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"The expiration date can be at most {parent.expires_at:%Y-%m-%d %H:%M} UTC (the key creating it)."
    )


# -- whole sentences -----------------------------------------------------------------------


def test_a_refusal_because_of_the_parent_key_is_one_german_sentence(project):
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])

    with translation.override("de"), pytest.raises(ApiKeyError) as refused:
        services.api_key_create(
            project=project,
            name="child",
            permissions=[catalog.READ_PROJECT],
            created_by_key=parent,
            expires_at=parent.expires_at + timedelta(days=1),
        )

    assert refused.value.message == (
        f"Das Ablaufdatum darf nicht nach dem {parent.expires_at:%d.%m.%Y, %H:%M} UTC liegen: "
        "Zu diesem Zeitpunkt läuft der erstellende Schlüssel ab."
    )


def test_records_are_named_in_whole_german_sentences(project, admin_user):
    from apikeys.models import AuditEvent
    from projects.models import Membership

    key = ApiKeyFactory(project=project, name="deploy-bot", created_by=admin_user)
    event = AuditEvent.objects.get(api_key=key)
    membership = Membership.objects.get(user=admin_user)

    with translation.override("de"):
        assert str(event) == "API-Schlüssel erstellt: deploy-bot (durch alice)"
        assert str(membership) == "alice als Administrator in Demo Project"
    assert str(event) == "API key created: deploy-bot by alice"
    assert str(membership) == "alice in Demo Project as Administrator"


def test_who_created_or_revoked_a_key_reads_as_a_value_not_a_dative(client, project, admin_user):
    parent = ApiKeyFactory(project=project, name="parent", permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    child = ApiKeyFactory(
        project=project, name="child", created_by_key=parent, created_by=None, expires_at=parent.expires_at
    )
    client.force_login(admin_user)

    text = visible_text(client.get(reverse("apikeys:detail", args=[project.slug, child.public_id]), **GERMAN))

    assert "Erstellt von Schlüssel parent (über die API)" in text
    assert "Zeitpunkt Ereignis Ausgeführt von IP-Adresse" in text
    assert "dem Schlüssel" not in text and "Von Adresse" not in text


# -- plurals -------------------------------------------------------------------------------


def test_the_hidden_keys_count_is_inflected_for_one_and_for_two(client, project, admin_user):
    ApiKeyFactory(project=project, name="current")
    expired_api_key(project=project, name="old")
    client.force_login(admin_user)
    url = reverse("apikeys:list", args=[project.slug])

    one = visible_text(client.get(url, **GERMAN))
    expired_api_key(project=project, name="older")
    two = visible_text(client.get(url, **GERMAN))

    assert "1 Schlüssel · 1 widerrufener, abgelaufener oder abgelöster Schlüssel ausgeblendet" in one
    assert "1 Schlüssel · 2 widerrufene, abgelaufene oder abgelöste Schlüssel ausgeblendet" in two


@pytest.mark.parametrize(
    ("seconds", "german", "english"),
    [
        (60, "Versuchen Sie es in 1 Minute erneut.", "Try again in 1 minute."),
        (120, "Versuchen Sie es in 2 Minuten erneut.", "Try again in 2 minutes."),
    ],
)
def test_the_log_in_lockout_counts_its_minutes_right(settings, seconds, german, english):
    from config import ratelimit

    settings.LOGIN_FAILURE_WINDOW_SECONDS = seconds

    with translation.override("de"):
        assert ratelimit.login_refused_message().endswith(german)
    assert ratelimit.login_refused_message().endswith(english)


def test_relative_minutes_are_inflected_for_one_and_for_two():
    from projects.templatetags import console

    now = timezone.now()
    with translation.override("de"):
        assert console.relative(now - timedelta(minutes=1, seconds=5), now).replace("\xa0", " ") == "vor 1 Minute"
        assert console.relative(now - timedelta(minutes=2, seconds=5), now).replace("\xa0", " ") == "vor 2 Minuten"


@pytest.mark.parametrize(
    ("count", "german", "english"),
    [
        (1, "1 API-Schlüssel wurde widerrufen.", "Revoked 1 API key."),
        (2, "2 API-Schlüssel wurden widerrufen.", "Revoked 2 API keys."),
    ],
)
def test_the_admins_revoke_message_counts_its_keys_right(project, superuser, count, german, english):
    from django.contrib.messages import get_messages

    said = {}
    for language, headers in (("de", GERMAN), ("en", {})):
        client = Client()
        client.force_login(superuser)
        keys = [ApiKeyFactory(project=project) for _ in range(count)]
        response = client.post(
            reverse("admin:apikeys_apikey_changelist"),
            {"action": "revoke_selected", "_selected_action": [k.pk for k in keys], "confirm": "yes"},
            **headers,
        )
        said[language] = [str(m) for m in get_messages(response.wsgi_request)]

    assert said == {"de": [german], "en": [english]}


# -- notices -------------------------------------------------------------------------------


DEPRECATION = (
    "We're currently evaluating a Service Account Design that deprecates API Keys in favor of Service Accounts. "
    "Existing API keys will continue to work, but the creation of new API keys will be disabled in the future."
)


def test_the_deprecation_notice_is_quoted_in_english_and_rewritten_in_german(client, project, admin_user, settings):
    settings.API_KEYS_DEPRECATED = True
    client.force_login(admin_user)
    url = reverse("apikeys:list", args=[project.slug])

    english = parse(client.get(url)).find("div", class_="notice").text()
    german = parse(client.get(url, **GERMAN)).find("div", class_="notice").text()

    assert DEPRECATION in " ".join(english.split())
    assert "Hinweis zur Abkündigung" in german
    assert "Wir prüfen derzeit ein Konzept, mit dem Service-Accounts die API-Schlüssel ablösen sollen." in german
    assert "Bestehende API-Schlüssel funktionieren weiterhin" in german


def test_the_key_lists_intro_is_native_german(client, project, admin_user, viewer_user):
    url = reverse("apikeys:list", args=[project.slug])
    client.force_login(admin_user)
    manager = visible_text(client.get(url, **GERMAN))
    client.force_login(viewer_user)
    reader = visible_text(client.get(url, **GERMAN))

    assert (
        "Mit API-Schlüsseln greifen Programme auf dieses Projekt zu – mit genau den Berechtigungen, die Sie vergeben."
        in manager
    )
    assert "Sie haben Lesezugriff auf die Schlüssel dieses Projekts." in reader
