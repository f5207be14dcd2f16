"""Schemathesis against the API's own OpenAPI document (README, "Using a key"), inside the suite.

The schema is the one the running application serves at /api/v1/openapi.json
(loaded through the real WSGI application, middleware included). For every
operation schemathesis generates valid and invalid requests; the answers must

- never be a server error (5xx),
- use only status codes, content types and bodies the document describes.

Generated requests run with a key that holds every permission, with a
credential of a service account that holds the organization role Admin and
every permission in the project (the organization API's caller, which also
reaches the project endpoints as a credential does), and again with no key,
garbage and unknown keys or credentials, where every answer must be a
documented 401 or 429. The slugs and ids are sometimes replaced by real ones,
so that the success paths (200, 201) are exercised and not only the 404s of
random slugs.
"""

from unittest import mock

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apikeys import tokens
from apikeys.models import ApiKey
from projects import catalog
from projects.models import DEFAULT_ORGANIZATION_SLUG
from serviceaccounts.models import Credential, ServiceAccount
from tests.factories import ApiKeyFactory, CredentialFactory, ServiceAccountFactory

pytestmark = pytest.mark.slow  # generated requests


HOST = "localhost"  # what schemathesis' WSGI client sends
SLUG = "demo"  # the `project` fixture's
VICTIM_ID = "Victim0Key00"  # a real key of the project the revoke operation may hit
ORG_SLUG = DEFAULT_ORGANIZATION_SLUG  # the organization of the `project` fixture
VICTIM_ACCOUNT_ID = "Victim0Acct0"  # a real service account of it the organization operations may hit
VICTIM_CREDENTIAL_ID = "Victim0Cred0"  # ... and its credential
# The real path parameters: those of the organization operations, and those of the project ones.
REAL_ORG_PARAMETERS = {
    "slug": ORG_SLUG,
    "id": VICTIM_ACCOUNT_ID,
    "project_slug": SLUG,
    "credential_id": VICTIM_CREDENTIAL_ID,
}
REAL_PROJECT_PARAMETERS = {"slug": SLUG, "id": VICTIM_ID}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

APP = get_wsgi_application()
with override_settings(ALLOWED_HOSTS=[HOST]):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


def real_parameters(path: str) -> dict:
    return REAL_ORG_PARAMETERS if path.startswith("/orgs/") else REAL_PROJECT_PARAMETERS


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Often the real project (and for revoke, a real key), else what was generated.

    For the organization operations: the real organization, service account,
    project and credential. The real one comes first: it is what hypothesis
    tries most and shrinks to.
    """
    if not path_parameters:
        return st.just(path_parameters)
    real = {name: real_parameters(context.operation.path).get(name, value) for name, value in path_parameters.items()}
    return st.sampled_from([real, path_parameters])


def aim_at_real_objects(case) -> None:
    """Coverage-phase cases vary one input at a time, and the hook above does not reach them.

    Unless the input varied is the slug or the key id itself, put the real ones
    in, so that a varied body or query reaches validation instead of a 404.
    """
    meta = case.meta
    if meta is None or meta.phase.name != "coverage" or not case.path_parameters:
        return
    varied = getattr(meta.phase.data, "parameter", None)
    for name, real in real_parameters(case.operation.path).items():
        if name in case.path_parameters and varied != name:
            case.path_parameters[name] = real


fuzzing = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    # One database and one key per operation, shared by its examples (rolled
    # back after each operation): that is the point of the fixtures here.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def wsgi_app(db, settings):
    """The real WSGI application, with the test's database connection kept.

    Django's test client disconnects `close_old_connections` from the request
    signals, or it would close the connection holding the test's transaction;
    so does this fixture, for the WSGI handler schemathesis calls.
    """
    settings.ALLOWED_HOSTS = [HOST]
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield APP
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def almighty_key(project):
    """A key of `demo` with every permission and no expiry, and a second key it may revoke."""
    with mock.patch.object(tokens, "new_public_id", return_value=VICTIM_ID):
        ApiKeyFactory(project=project, name="victim", permissions=[catalog.READ_PROJECT])
    return ApiKeyFactory(project=project, name="almighty", permissions=sorted(catalog.CODENAMES), expires_at=None)


@schema.parametrize()
@fuzzing
def test_api_conforms_to_its_document_with_a_valid_key(case, wsgi_app, almighty_key):
    aim_at_real_objects(case)
    response = case.call(app=wsgi_app, headers={"Authorization": f"Bearer {almighty_key.secret}"})
    case.validate_response(response, checks=CHECKS)


@pytest.fixture
def admin_credential(project):
    """A credential of a service account of `demo`'s organization with the role Admin and every permission in demo.

    No expiry, like the almighty key, so that the credentials it creates may
    have any. The organization operations may hit a second service account
    (a member of demo, with a credential) and `demo` itself.
    """
    organization = project.organization
    victim = ServiceAccountFactory(
        organization=organization,
        name="victim",
        public_id=VICTIM_ACCOUNT_ID,
        projects={project: [catalog.READ_PROJECT]},
    )
    with mock.patch.object(tokens, "new_public_id", return_value=VICTIM_CREDENTIAL_ID):
        CredentialFactory(service_account=victim, name="victim", expires_at=None)
    automation = ServiceAccountFactory(
        organization=organization, name="automation", admin=True, projects={project: sorted(catalog.CODENAMES)}
    )
    return CredentialFactory(service_account=automation, name="automation", expires_at=None)


@schema.parametrize()
@fuzzing
def test_api_conforms_to_its_document_with_an_admin_service_accounts_credential(case, wsgi_app, admin_credential):
    aim_at_real_objects(case)
    response = case.call(app=wsgi_app, headers={"Authorization": f"Bearer {admin_credential.secret}"})
    case.validate_response(response, checks=CHECKS)
    # The generated requests never reach the calling credential's own account (only the victim's).
    admin_credential.refresh_from_db()
    assert admin_credential.revoked_at is None and admin_credential.service_account.is_active


@schema.parametrize()
@fuzzing
@schema.given(
    authorization=st.one_of(
        st.none(),
        st.just("Bearer"),
        st.just("Bearer "),
        st.from_regex(r"\ABearer [!-~]{1,120}\Z"),
        st.from_regex(r"\A(Basic|Token|bearer|BEARER) [!-~]{0,60}\Z"),
        st.builds(lambda: f"Bearer {tokens.generate().raw}"),  # well-formed, unknown
        st.builds(lambda: f"Bearer {tokens.generate(kind=tokens.CREDENTIAL).raw}"),  # a credential's, unknown
    )
)
def test_api_without_a_valid_key_answers_only_documented_400_401_or_429(
    case, wsgi_app, almighty_key, admin_credential, authorization
):
    headers = {name: value for name, value in (case.headers or {}).items() if name.lower() != "authorization"}
    case.headers = headers
    extra = {"Authorization": authorization} if authorization is not None else {}

    response = case.call(app=wsgi_app, headers=extra)

    case.validate_response(response, checks=CHECKS)
    # A malformed request (say a control character in a generated slug) is
    # refused before the key is even read; anything else needs the key.
    refused_as_malformed = response.status_code == 400 and response.json()["error"] == "bad_request"
    assert response.status_code in (401, 429) or refused_as_malformed, response.text
    assert ApiKey.objects.filter(project=almighty_key.project).count() == 2
    assert ServiceAccount.objects.count() == Credential.objects.active().count() == 2


# -- what schemathesis found: URLs the routes refuse answered with the console's HTML 404 --------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/a.b",  # not a slug: no route matched, Django's HTML 404 page
        "/api/v1/projects/d%C3%A9mo/api-keys",
        "/api/v1/projects/demo/api-keys/a/b/revoke",
        "/api/v1/whoami/",
        "/api/v1/nothing-here",
        "/api/v2/whoami",
        "/api",  # no slash: not a redirect to an HTML page
    ],
)
def test_unroutable_api_urls_answer_json_after_authentication(client, almighty_key, path):
    anonymous = client.get(path)
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {almighty_key.secret}")

    assert anonymous.status_code == 401
    assert anonymous["Content-Type"] == "application/json"
    assert anonymous.json()["error"] == "invalid_token"
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not_found", "detail": "No such API endpoint."}
