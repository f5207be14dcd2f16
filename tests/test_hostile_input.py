"""Hostile bytes in any part of any request: a clear 4xx, never a 500.

The routes are read from the URLconf when the tests are collected, so a route
added later is a new test id here without editing this file. For every route
the test builds a real URL (a real project, key, admin object…) and sends it,
through the whole middleware stack, as an anonymous visitor, a project member
and a superuser (under /api/: without a key and with a valid key holding
every permission), by GET, HEAD and POST:

- each path parameter replaced by each hostile value;
- every query parameter the app reads set to each hostile value at once, then
  one at a time (the names a normal request of the route looks up, recorded,
  plus an admin changelist's filters, an add form's relations and an unknown
  name), so that no refused parameter masks another;
- hostile headers and cookies;
- form bodies of hostile values (console, admin) or JSON bodies of hostile
  values and wrong types (API; the fields come from the OpenAPI document).

It asserts: no 5xx, no control character in a response header, and under
/api/ JSON with "error" and "detail" for every refusal.

NUL only breaks PostgreSQL ("text fields cannot contain NUL"), so CI runs this
file on PostgreSQL too; the reported requests are pinned by exact tests below.
"""

import json
import logging
import re
import traceback
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from unittest import mock
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.admin.views import main as admin_main
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.http import QueryDict
from django.test import Client, RequestFactory
from django.urls import resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from apikeys.models import ApiKey
from apikeys.openapi import document
from projects import catalog
from projects.models import Membership, OrganizationMembership, Project, Role
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent
from tests.factories import (
    ApiKeyFactory,
    CredentialFactory,
    MembershipFactory,
    OrganizationFactory,
    OrganizationMembershipFactory,
    ProjectFactory,
    RoleFactory,
    ServiceAccountFactory,
    UserFactory,
    organization_role,
    role,
)
from tests.routes import ROUTES, Route, fill, url

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # tens of thousands of requests

ALL_PERMISSIONS = [p.codename for p in catalog.CATALOG]
METHODS = ("GET", "HEAD", "POST")
JSON_TYPE = "application/json"


# -- hostile values -----------------------------------------------------------------------

# (label, text as it appears in a URL or a form body: percent-encoded where needed).
# The request guard refuses these wherever they appear, cheaply: every identity
# sends them by every method. The others go by one method each, in rotation.
GUARDED = [
    ("nul", "%00"),
    ("control", "%01"),
    ("crlf", "%0D%0A"),
    ("escape", "%1B"),
    ("del", "%7F"),
    ("c1-control", "%C2%85"),
]
UNGUARDED = [
    ("tab", "%09"),  # refused in a path, allowed in a query value (pasted into a search box)
    ("lone-surrogate", "%ED%A0%80"),  # UTF-8 of U+D800: Django decodes it to replacement characters
    ("overlong-nul", "%C0%80"),
    ("invalid-utf8", "%FF%FE"),
    ("non-ascii", "%C3%A9%F0%9F%94%91%E2%80%AE"),
    ("long", "a" * 10_000),
    ("many-words", "a+" * 1_500),
    ("huge-number", "9" * 31),
    ("negative", "-1"),
    ("not-a-number", "abc"),
    ("empty", ""),
    ("sql-and-like", "%25_%5C%27%22%3B--"),
    ("nested-query", "q%3D%2500%26o%3D-"),  # the admin decodes _changelist_filters a second time
    ("encoded-slash", "..%2F..%2Fa"),
]
HOSTILE = GUARDED + UNGUARDED
# One parameter at a time gets the values that probe its type.
PROBES = [v for v in UNGUARDED if v[0] in {"lone-surrogate", "long", "huge-number", "negative", "not-a-number"}]

# JSON values for each field of an API body, and whole bodies of the wrong shape.
JSON_VALUES = [
    "\x00",
    "\ud800",
    "a\udfffb",
    "a" * 10_000,
    "",
    10**30,
    -1,
    1.5,
    True,
    None,
    [],
    [["x"]],
    [{"a": 1}],
    ["\x00"],
    ["\ud800"],
    [1, 2],
    {"a": "b"},
    "2030-13-45T99:99:99Z",
    "9999-12-31T23:59:59-23:59",
]
JSON_BODIES = [
    "[]",
    "123",
    '"text"',
    "null",
    "{",
    "\x00",
    '{"a":' * 5_000 + "1" + "}" * 5_000,
    '{"name": "\\u0000"}',
    '{"name": "\\ud800"}',
]

# Parameters that the app reads, sent all at once with each value. One at a
# time, a route gets the names it was seen reading (and the few below).
QUERY_NAMES = {
    "q",
    "status",
    "page",
    "from",
    "preset",
    "next",
    "language",
    "permission",
    admin_main.ALL_VAR,
    admin_main.ORDER_VAR,
    admin_main.PAGE_VAR,
    admin_main.SEARCH_VAR,
    admin_main.ERROR_FLAG,
    admin_main.IS_POPUP_VAR,
    admin_main.TO_FIELD_VAR,
    admin_main.IS_FACETS_VAR,
    "_changelist_filters",
    "term",
    "app_label",
    "model_name",
    "field_name",
}
UNKNOWN_NAME = "no-such-parameter"
FORM_NAMES = {
    "csrfmiddlewaretoken",
    "username",
    "password",
    "next",
    "language",
    "action",
    "_selected_action",
    "index",
    "select_across",
    "confirm",
    "post",
    "old_password",
    "new_password1",
    "new_password2",
    "password1",
    "password2",
    "usable_password",
    UNKNOWN_NAME,
}


def header_cases(world) -> list[tuple[str, dict]]:
    """(label, WSGI environ) of hostile headers and cookies."""
    session, csrf, language = settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME
    return [
        ("authorization-nul", {"HTTP_AUTHORIZATION": "Bearer \x00"}),
        ("authorization-key-and-nul", {"HTTP_AUTHORIZATION": f"Bearer {world.api_key.secret}\x00"}),
        ("authorization-long", {"HTTP_AUTHORIZATION": "Bearer " + "a" * 10_000}),
        ("authorization-latin1", {"HTTP_AUTHORIZATION": "Bearer \xe9\xff"}),
        ("authorization-basic", {"HTTP_AUTHORIZATION": "Basic YTpi"}),
        ("accept-language-nul", {"HTTP_ACCEPT_LANGUAGE": "de\x00"}),
        ("accept-language-junk", {"HTTP_ACCEPT_LANGUAGE": "de;q=abc, *;q=1e400, x-" + "a" * 10_000}),
        ("user-agent-nul", {"HTTP_USER_AGENT": "agent\x00"}),
        ("user-agent-long", {"HTTP_USER_AGENT": "\xff" * 10_000}),
        ("forwarded-for-junk", {"HTTP_X_FORWARDED_FOR": "999.1.1.1, \xe9, ::ffff:1.2.3.4%eth0, " * 100}),
        ("host-unknown", {"HTTP_HOST": "evil.example"}),
        ("host-nul", {"HTTP_HOST": "testserver\x00"}),
        ("htmx-junk", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "key-list\x00", "HTTP_HX_CURRENT_URL": "%00"}),
        ("htmx-fragment", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "key-list", "HTTP_HX_TRIGGER_NAME": "\xff"}),
        ("referer-junk", {"HTTP_REFERER": "http://\xff:99999999/\x7f", "HTTP_ORIGIN": "null"}),
        ("content-length-junk", {"CONTENT_LENGTH": "-1"}),
        ("content-type-junk", {"CONTENT_TYPE": "multipart/form-data; boundary=\x00"}),
        ("session-nul", {"HTTP_COOKIE": f"{session}=abcdefgh\x00ijkl"}),
        ("session-octal-nul", {"HTTP_COOKIE": f'{session}="\\000abcdefghijkl"'}),
        ("session-long", {"HTTP_COOKIE": f"{session}=" + "a" * 10_000}),
        ("session-junk", {"HTTP_COOKIE": f"{session}=../../../etc/passwd%00"}),
        ("csrf-junk", {"HTTP_COOKIE": f"{csrf}=!!%00" + "x" * 100}),
        ("csrf-nul", {"HTTP_COOKIE": f"{csrf}=a\x00b"}),
        ("language-junk", {"HTTP_COOKIE": f"{language}=" + "de-" * 3_000}),
        ("language-octal-nul", {"HTTP_COOKIE": f'{language}="de\\000"'}),
        ("messages-junk", {"HTTP_COOKIE": "messages=W1siX19qc29uX21lc3NhZ2UiXQ:junk"}),
        ("cookie-10kb", {"HTTP_COOKIE": "junk=" + "a" * 10_000}),
        ("many-cookies", {"HTTP_COOKIE": "; ".join(f"c{i}=v" for i in range(1_000))}),
    ]


# -- the data every route needs ----------------------------------------------------------


@dataclass
class World:
    project: Project
    member: object
    superuser: object
    api_key: ApiKey  # the caller under /api/: every permission
    target_key: ApiKey  # the key URLs name (revoking it must not end the caller)
    objects: dict
    credential: Credential  # the caller under /api/v1/orgs/: an Admin service account's, every permission
    target_account: ServiceAccount  # the service account URLs name

    def admin_object(self, model):
        return self.objects.get(model) or model._default_manager.order_by("pk").last()


@pytest.fixture
def world(project, member_user, superuser, settings):
    # Every hostile request must reach the code it aims at, not a rate limit.
    settings.API_AUTH_FAILURE_LIMIT = 10**9
    settings.LOGIN_FAILURE_LIMIT_PER_USERNAME = 10**9
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 10**9
    # X-Forwarded-For is read (and fuzzed) only behind a proxy.
    settings.TRUSTED_PROXY_COUNT = 1
    sandbox = ProjectFactory(slug="sandbox", name="Sandbox")
    target_user = UserFactory(username="target")
    membership = MembershipFactory(project=sandbox, user=target_user, role=role(catalog.VIEWER))
    api_key = ApiKeyFactory(project=project, name="caller", permissions=ALL_PERMISSIONS)
    target_key = ApiKeyFactory(
        project=project,
        name="target",
        tags=["ci"],
        permissions=[catalog.READ_PROJECT],
        expires_at=timezone.now() + timedelta(days=3),
    )
    # The organization API under the same slug as the project, so that one value reaches both.
    project.organization = OrganizationFactory(slug=project.slug, name="Demo Organization")
    project.save(update_fields=["organization"])
    automation = ServiceAccountFactory(
        organization=project.organization, name="caller", admin=True, projects={project: ALL_PERMISSIONS}
    )
    credential = CredentialFactory(service_account=automation, name="caller", expires_at=None)
    target_account = ServiceAccountFactory(organization=project.organization, name="target")
    target_credential = CredentialFactory(service_account=target_account, name="target")
    objects = {
        type(target_user): target_user,
        Group: Group.objects.create(name="hostile"),
        Project: sandbox,
        Role: RoleFactory(name="Custom", codenames=[catalog.READ_PROJECT]),
        Membership: membership,
        ApiKey: target_key,
        ServiceAccount: target_account,
        Credential: target_credential,
        ServiceAccountEvent: ServiceAccountEvent.objects.filter(credential=target_credential).first(),
        OrganizationMembership: OrganizationMembershipFactory(
            organization=project.organization, user=target_user, role=organization_role(catalog.ADMIN)
        ),
    }
    # One line per request is a lot of lines here.
    with mock.patch.object(logging.getLogger("console.request"), "disabled", True):
        yield World(project, member_user, superuser, api_key, target_key, objects, credential, target_account)


def valid_values(world: World, route: Route) -> dict[str, str]:
    """A value for each path parameter that makes the URL name a real object."""
    model_admin = route.model_admin
    obj = world.admin_object(model_admin.model) if model_admin else world.project
    return fill(
        route,
        {
            "slug": world.project.slug,
            "object_id": str(obj.pk),
            "public_id": world.target_key.public_id,
            "account_id": world.target_account.public_id,
            "project_slug": world.project.slug,
            "id": str(obj.pk),
            "content_type_id": str(ContentType.objects.get_for_model(Project).pk),
            "url": "no-such-page/",
        },
    )


def _query(names, text: str) -> str:
    return "&".join(f"{quote(name)}={text}" for name in sorted(names))


# -- sending and checking --------------------------------------------------------------

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@contextmanager
def recording_reads(names: set[str]):
    """Record every name a view looks up in request.GET or request.POST.

    Only QueryDicts: the URL resolver keeps MultiValueDicts too.
    """

    def recorder(original):
        def method(self, key, *args, **kwargs):
            if isinstance(self, QueryDict) and isinstance(key, str):
                names.add(key)
            return original(self, key, *args, **kwargs)

        return method

    with ExitStack() as stack:
        for attribute in ("__getitem__", "get", "getlist", "__contains__", "pop"):
            original = getattr(MultiValueDict, attribute)
            stack.enter_context(mock.patch.object(MultiValueDict, attribute, recorder(original)))
        yield


def _where(error: BaseException) -> str:
    """The innermost frame of the project's own code (else the innermost) that raised."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if "/site-packages/" not in f.filename and "/tests/" not in f.filename]
    frame = (own or frames)[-1]
    return f"{'/'.join(frame.filename.rsplit('/', 2)[-2:])}:{frame.lineno} in {frame.name}"


class Sender:
    """Sends requests as the route's identities and collects every problem instead of stopping."""

    def __init__(self, world: World, route: Route):
        self.world, self.route = world, route
        self.clients: dict[str, Client] = {}
        self.failures: list[str] = []
        self.count = 0
        if route.is_api:
            self.identities = {"anonymous": None, "api key": None}
        else:
            self.identities = {"anonymous": None, "member": world.member, "superuser": world.superuser}

    @property
    def privileged(self) -> str:
        """Who reaches the view itself: a superuser passes every check, the key holds every permission."""
        return "api key" if self.route.is_api else "superuser"

    def _client(self, identity: str) -> Client:
        if identity not in self.clients:
            client = Client()
            if user := self.identities[identity]:
                client.force_login(user)
            self.clients[identity] = client
        return self.clients[identity]

    @staticmethod
    def _session_cookie(client: Client) -> str:
        morsel = client.cookies.get(settings.SESSION_COOKIE_NAME)
        return f"{morsel.key}={morsel.coded_value}" if morsel and morsel.value else ""

    def send(self, identity: str, method: str, path: str, label: str, *, body="", content_type=None, extra=None):
        client = self._client(identity)
        environ = dict(extra or {})
        if identity == "api key":
            caller = self.world.credential if path.startswith("/api/v1/orgs/") else self.world.api_key
            environ.setdefault("HTTP_AUTHORIZATION", f"Bearer {caller.secret}")
        if "HTTP_COOKIE" in environ and (session := self._session_cookie(client)):
            # The session goes along; a hostile cookie of the same name comes last and wins.
            environ["HTTP_COOKIE"] = f"{session}; {environ['HTTP_COOKIE']}"
        self.count += 1
        what = f"{method} {path[:150]!r} as {identity} ({label})"
        try:
            if method == "POST":
                content_type = content_type or "application/x-www-form-urlencoded"
                response = client.post(path, data=body, content_type=content_type, **environ)
            else:
                response = client.generic(method, path, **environ)
        except Exception as error:  # noqa: BLE001 - every failure is reported at the end
            self.failures.append(f"{what}: raised {type(error).__name__}: {str(error)[:200]} at {_where(error)}")
            self.clients.pop(identity, None)
            return None
        if problem := self.problem(method, path, response):
            self.failures.append(f"{what}: {problem}")
        if self.identities[identity] is not None and not self._session_cookie(client):
            self.clients.pop(identity, None)  # logged out (the log-out route): log in again
        return response

    @staticmethod
    def problem(method: str, path: str, response) -> str | None:
        if response.status_code >= 500:
            return f"status {response.status_code}"
        for name, value in response.items():
            if CONTROL.search(value):
                return f"control character in response header {name}: {value[:100]!r}"
        if path.startswith("/api/"):
            if not response.get("Content-Type", "").startswith("application/json"):
                return f"status {response.status_code} with Content-Type {response.get('Content-Type')!r}, not JSON"
            if method != "HEAD" and response.status_code >= 400:
                body = json.loads(response.content)
                if not {"error", "detail"} <= set(body):
                    return f"status {response.status_code} without error and detail: {body}"
        return None

    def everyone(self, path: str, label: str, *, index: int, all_methods: bool = False, **kwargs):
        """Every identity sends it: by every method, or (to save time) by one, rotating with `index`."""
        for offset, identity in enumerate(self.identities):
            methods = METHODS if all_methods else (METHODS[(index + offset) % len(METHODS)],)
            for method in methods:
                self.send(identity, method, path, label, **kwargs)

    def assert_no_failures(self):
        listing = "\n".join(self.failures[:40])
        assert not self.failures, f"{len(self.failures)} of {self.count} requests failed:\n{listing}"


def _route_names(route: Route, response) -> set[str]:
    """What a route reads beyond request.GET.get(): a changelist's filters, an add form's prefilled relations."""
    names = {UNKNOWN_NAME}
    if (context := getattr(response, "context", None)) and (changelist := context.get("cl")):
        names.update({admin_main.ORDER_VAR, admin_main.ERROR_FLAG})  # read from the parameters at large
        for spec in changelist.filter_specs:
            names.update(spec.expected_parameters())
        if changelist.date_hierarchy:
            names.update(f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day"))
    if route.view_name == "add_view":
        names.update(f.name for f in route.model_admin.model._meta.get_fields() if f.is_relation and f.concrete)
    return names


def _api_fields() -> set[str]:
    """Every property of every request body the OpenAPI document describes."""
    doc = document("http://testserver/api/v1")
    schemas = doc["components"]["schemas"]
    fields = set()
    for operations in doc["paths"].values():
        for operation in operations.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                schema = content["schema"]
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema
                fields.update(schema.get("properties", {}))
    return fields


def _action_form(route: Route, world: World) -> dict[str, str]:
    """A changelist's POST names a real action, so its selection is what gets checked."""
    if route.view_name != "changelist_view":
        return {}
    request = RequestFactory().get("/")
    request.user = world.superuser
    actions = list(route.model_admin.get_actions(request))
    return {"action": actions[0], "index": "0"} if actions else {}


def _baseline(sender: Sender, route: Route, target: str) -> tuple[set[str], set[str]]:
    """Valid requests by every identity and method; the names the route reads from the query and the form."""
    query_names: set[str] = set()
    form_names: set[str] = set()
    for identity in sender.identities:
        for method in METHODS:
            with recording_reads(form_names if method == "POST" else query_names):
                response = sender.send(identity, method, target, "valid")
            if identity == sender.privileged and method == "GET" and response is not None:
                query_names |= _route_names(route, response)
    return query_names, form_names


# -- the generated test -----------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_no_hostile_value_is_a_server_error(route, world):
    sender = Sender(world, route)
    values = valid_values(world, route)
    target = url(route, values)
    names, form_names = _baseline(sender, route, target)

    # The path: each parameter, each value.
    for param in route.params:
        for index, (label, text) in enumerate(HOSTILE):
            hostile = url(route, {**values, param: text})
            sender.everyone(hostile, f"<{param}> {label}", index=index, all_methods=(label, text) in GUARDED)

    # The query string: every name with the same value, then one name at a time.
    for index, (label, text) in enumerate(HOSTILE):
        query = _query(names | QUERY_NAMES | {UNKNOWN_NAME}, text)
        sender.everyone(url(route, values, query), f"every parameter {label}", index=index)
    for name in sorted(names):
        q = quote(name)
        shapes = [(label, f"{q}={text}") for label, text in PROBES]
        shapes += [("repeated", f"{q}=a&{q}=b"), ("array-name", f"{q}%5B%5D=x"), ("nul-in-name", f"{q}%00=x")]
        for label, query in shapes:
            sender.send(sender.privileged, "GET", url(route, values, query), f"?{name} {label}")

    # Headers and cookies.
    for index, (label, environ) in enumerate(header_cases(world)):
        sender.everyone(target, label, index=index, extra=environ)

    # Bodies: JSON under /api/, forms elsewhere.
    if route.is_api:
        for value in JSON_VALUES:
            for name in sorted(_api_fields()):
                body = json.dumps({"name": "hostile", "permissions": [catalog.READ_PROJECT], name: value})
                label = f"JSON {name}={value!r:.30}"
                sender.send("api key", "POST", target, label, body=body, content_type=JSON_TYPE)
        for body in JSON_BODIES:
            sender.send("api key", "POST", target, f"JSON body {body[:20]!r}", body=body, content_type=JSON_TYPE)
        for content_type in ("text/plain", "application/json; charset=latin-1", "multipart/form-data; boundary=x"):
            sender.send("api key", "POST", target, f"Content-Type {content_type}", body="{}", content_type=content_type)
    else:
        fixed = _action_form(route, world)
        fields = (form_names | FORM_NAMES) - set(fixed)
        for label, text in HOSTILE:
            body = "&".join([_query(fields, text), *(f"{k}={quote(v)}" for k, v in fixed.items())])
            for identity in sender.identities:
                sender.send(identity, "POST", target, f"every field {label}", body=body)
    sender.assert_no_failures()


# -- the reported requests, and what the guard must let through ----------------------------

REPORTED = [
    ("GET", "/projects/demo/api-keys/?q=%00"),
    ("GET", "/projects/demo/api-keys/create/?from=%00"),
    ("GET", "/projects/demo/api-keys/%00/revoke/"),
    ("POST", "/projects/demo/api-keys/%00/revoke/"),
    ("POST", "/api/v1/projects/demo/api-keys/%00/revoke"),
]


@pytest.fixture
def member_client(client, member_user):
    client.force_login(member_user)
    return client


@pytest.fixture
def caller(project):
    return ApiKeyFactory(project=project, name="caller", permissions=ALL_PERMISSIONS)


@pytest.mark.parametrize("method, path", REPORTED)
def test_reported_requests_are_refused_with_400(member_client, caller, method, path):
    response = member_client.generic(method, path, HTTP_AUTHORIZATION=f"Bearer {caller.secret}")

    # Django did decode the %00: the guard saw a real NUL, not three characters.
    request = response.wsgi_request
    assert "\x00" in request.path or "\x00" in "".join(request.GET.values())
    assert response.status_code == 400
    if path.startswith("/api/"):
        detail = "The URL contains a character that is not allowed."
        assert response.json() == {"error": "bad_request", "detail": detail}
    else:
        assert response["Content-Type"].startswith("text/plain")
        assert "not allowed" in response.content.decode()


@pytest.mark.parametrize(
    "environ",
    [
        {"HTTP_USER_AGENT": "curl/8\x00"},
        {"HTTP_ACCEPT_LANGUAGE": "de\x1b[2J"},
        {"HTTP_X_FORWARDED_FOR": "192.0.2.1\n198.51.100.2"},
        {"HTTP_REFERER": "https://console.example/\r\nX-Injected: 1"},
        {"HTTP_COOKIE": "django_language=de\x00"},
        {"HTTP_COOKIE": "other=\x7f"},
    ],
    ids=["nul-user-agent", "escape-language", "newline-forwarded-for", "crlf-referer", "nul-cookie", "del-cookie"],
)
@pytest.mark.parametrize("path", ["/projects/demo/api-keys/", "/api/v1/whoami"])
def test_control_characters_in_a_header_or_cookie_are_refused_before_the_session(member_client, caller, path, environ):
    if "HTTP_COOKIE" in environ:  # beside the real session cookie, which must not be loaded either
        session = member_client.cookies[settings.SESSION_COOKIE_NAME].value
        environ = {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session}; {environ['HTTP_COOKIE']}"}

    response = member_client.get(path, HTTP_AUTHORIZATION=f"Bearer {caller.secret}", **environ)

    assert response.status_code == 400
    assert not hasattr(response.wsgi_request, "user") or not response.wsgi_request.user.is_authenticated
    assert not getattr(response.wsgi_request, "session", None) or not response.wsgi_request.session.accessed
    if path.startswith("/api/"):
        assert response.json()["error"] == "bad_request"


def test_search_for_nul_matches_no_key_on_any_database(member_client, project):
    ApiKeyFactory(project=project, name="production-deploy")

    response = member_client.get("/projects/demo/api-keys/?q=%00")

    assert response.status_code == 400
    assert b"production-deploy" not in response.content


def test_refused_api_request_never_touches_the_session(client, superuser):
    client.force_login(superuser)

    response = client.get("/api/v1/whoami?x=%00")

    assert response.status_code == 400
    assert not hasattr(response.wsgi_request, "session")
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies


def test_api_bodies_are_left_to_the_api(client, caller):
    # The guard never reads an /api/ body: the view refuses the NUL in its own words.
    response = client.post(
        "/api/v1/projects/demo/api-keys",
        '{"name": "\\u0000", "permissions": ["can_read_project_in_project"]}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {caller.secret}",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_field"


def test_only_json_can_carry_a_lone_surrogate(member_client, project):
    """Paths and query strings come decoded with replacement characters; JSON escapes alone yield a lone surrogate."""
    response = member_client.get("/projects/demo/api-keys/?q=%ED%A0%80")
    assert response.status_code == 200
    assert response.wsgi_request.GET["q"] == "\ufffd" * 3

    response = member_client.get("/projects/%ED%A0%80/")
    assert response.status_code == 404
    assert response.wsgi_request.path == "/projects/%ED%A0%80/"

    assert json.loads('"\\ud800"') == "\ud800"


@pytest.mark.parametrize(
    "path, environ",
    [
        ("/projects/demo/api-keys/?q=caf%C3%A9+%F0%9F%94%91&status=active&page=2", {}),
        ("/projects/demo/api-keys/?q=a%25b_c%27d", {}),
        ("/projects/demo/api-keys/?q=key-1%09ci", {}),  # a table row pasted into the search box
        (
            "/projects/demo/api-keys/",
            {"HTTP_USER_AGENT": "Mozilla/5.0\t(X11)", "HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9"},
        ),
        ("/projects/demo/api-keys/", {"HTTP_COOKIE": "other-app=\xc3\xa9t\xc3\xa9; tracking=a\tb"}),
        ("/projects/demo/api-keys/", {"HTTP_REFERER": "https://console.example/projects/?q=caf%C3%A9"}),
    ],
)
def test_legitimate_values_pass_the_guard(member_client, project, path, environ):
    if "HTTP_COOKIE" in environ:  # UTF-8 from another app on the domain, and a tab (RFC 6265bis allows it)
        session = member_client.cookies[settings.SESSION_COOKIE_NAME].value
        environ = {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session}; {environ['HTTP_COOKIE']}"}
    assert member_client.get(path, **environ).status_code == 200


def test_form_text_keeps_line_breaks_and_tabs(member_client, project):
    page = member_client.get("/projects/demo/api-keys/create/")
    ticket = page.context["form"].initial["ticket"]

    response = member_client.post(
        "/projects/demo/api-keys/create/",
        {
            "name": "multi-line",
            "description": "first line\r\nsecond line\twith a tab",
            "expiration": "30",
            "permissions": [catalog.READ_PROJECT],
            "ticket": ticket,
        },
    )

    assert response.status_code == 201
    description = ApiKey.objects.get(name="multi-line").description
    assert description.replace("\r\n", "\n") == "first line\nsecond line\twith a tab"


# -- key ids: only their shape reaches a view ---------------------------------------------

MALFORMED_IDS = ["x", "AAAAAAAAAAA", "AAAAAAAAAAAAA", "AAAAAA-AAAAA", "%00AAAAAAAAAAA", "a" * 10_000, "12"]


@pytest.mark.parametrize("public_id", MALFORMED_IDS)
def test_malformed_key_id_is_not_routed_to_a_view(public_id):
    for path in (f"/projects/demo/api-keys/{public_id}/revoke/", f"/api/v1/projects/demo/api-keys/{public_id}/revoke"):
        try:
            match = resolve(path)
        except Resolver404:
            continue
        assert match.func.__name__ == "not_found", path  # the API's JSON 404 for everything else


@pytest.mark.parametrize("public_id", ["x", "AAAAAAAAAAAAA", "a" * 10_000])
def test_malformed_key_id_is_a_404(member_client, caller, public_id):
    assert member_client.get(f"/projects/demo/api-keys/{public_id}/revoke/").status_code == 404
    assert member_client.post(f"/projects/demo/api-keys/{public_id}/revoke/").status_code == 404

    response = member_client.post(
        f"/api/v1/projects/demo/api-keys/{public_id}/revoke", HTTP_AUTHORIZATION=f"Bearer {caller.secret}"
    )
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "No such API endpoint."}
    # Authenticated first, like every endpoint.
    assert member_client.post(f"/api/v1/projects/demo/api-keys/{public_id}/revoke").status_code == 401


def test_well_formed_key_id_still_reaches_the_views(member_client, caller, project):
    target = ApiKeyFactory(project=project, name="target")

    assert member_client.get(f"/projects/demo/api-keys/{target.public_id}/revoke/").status_code == 200
    response = member_client.post(
        f"/api/v1/projects/demo/api-keys/{target.public_id}/revoke", HTTP_AUTHORIZATION=f"Bearer {caller.secret}"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"


# -- the admin's unchecked inputs ---------------------------------------------------------


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("selected", ["abc", "9" * 31, "-1.5", ""])
def test_admin_action_on_a_selection_that_cannot_exist_is_a_400(admin_client, project, selected):
    key = ApiKeyFactory(project=project)

    response = admin_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_selected", "index": "0", "_selected_action": [str(key.pk), selected], "confirm": "yes"},
    )

    assert response.status_code == 400
    key.refresh_from_db()
    assert key.revoked_at is None


def test_admin_action_on_a_real_selection_still_asks_for_confirmation(admin_client, project):
    key = ApiKeyFactory(project=project)

    response = admin_client.post(
        "/admin/apikeys/apikey/", {"action": "revoke_selected", "index": "0", "_selected_action": [str(key.pk)]}
    )

    assert response.status_code == 200
    assert key.name in response.content.decode()


@pytest.mark.parametrize("query", ["user=abc", "user=" + "9" * 31, "project=1,2", "project=-"])
def test_admin_prefill_naming_an_impossible_object_is_a_400(admin_client, query):
    assert admin_client.get(f"/admin/projects/membership/add/?{query}").status_code == 400


def test_admin_prefill_of_a_real_object_still_works(admin_client, project, member_user):
    response = admin_client.get(f"/admin/projects/membership/add/?user={member_user.pk}&project={project.pk}")

    assert response.status_code == 200
    assert member_user.username in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/apikeys/apikey/{pk}/change/?_to_field=",
        "/admin/apikeys/apikey/{pk}/delete/?_to_field=",
    ],
)
def test_admin_empty_to_field_is_a_400(admin_client, project, url):
    key = ApiKeyFactory(project=project)
    assert admin_client.get(url.format(pk=key.pk)).status_code == 400


@pytest.mark.parametrize(
    "query, status",
    [
        ("at__year=2026", 200),
        ("at__year=2026&at__month=12&at__day=31", 200),
        ("at__year=9999", 400),  # Django computes the next year: 10000 is out of range
        ("at__year=99999999999", 400),
        ("at__year=2026&at__month=" + "9" * 31, 400),
    ],
)
def test_admin_date_hierarchy_takes_only_dates(admin_client, query, status):
    assert admin_client.get(f"/admin/apikeys/auditevent/?{query}").status_code == status


# -- admin changelists filter by their list filters only ------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/apikeys/apikey/?name__regex=(",
        "/admin/auth/user/?username__iregex=[",
        "/admin/apikeys/apikey/?created_at__year=99999999999",
        "/admin/projects/project/?id__in=99999999999999999999",
        "/admin/apikeys/apikey/?tags__contains=ci",
        "/admin/apikeys/apikey/?secret_hash__startswith=a",  # probing a column the list never shows
    ],
)
def test_admin_lookups_outside_the_list_filters_are_refused(superuser, project, url):
    """Django's admin would filter by any lookup on a model's own fields; the database failed on some (500s)."""
    ApiKeyFactory(project=project, tags=["ci"])
    client = Client(raise_request_exception=False)
    client.force_login(superuser)

    response = client.get(url)

    assert response.status_code == 400  # Django's DisallowedModelAdminLookup


@pytest.mark.parametrize(
    "url",
    [
        "/admin/apikeys/apikey/?status=revoked",
        "/admin/apikeys/auditevent/?action__exact=api_key.created",
        "/admin/apikeys/auditevent/?at__year=2026&at__month=12",
        "/admin/projects/membership/?role__id__exact=1",
    ],
)
def test_admin_list_filters_still_filter(superuser, project, url):
    ApiKeyFactory(project=project)
    client = Client()
    client.force_login(superuser)

    assert client.get(url).status_code == 200
