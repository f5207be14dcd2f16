"""A key's own page: every field, its permissions by service, its family and its audit trail."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apikeys import services
from projects import catalog
from projects.templatetags.console import when
from tests.factories import ApiKeyFactory, expired_api_key
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def detail_url(project, key) -> str:
    return reverse("apikeys:detail", args=[project.slug, key.public_id])


def facts(page) -> dict[str, str]:
    texts = [element.text() for element in page.find("dl", class_="facts").find_all() if element.tag in ("dt", "dd")]
    return dict(zip(texts[::2], texts[1::2], strict=True))


@pytest.fixture
def family(project, admin_user):
    """A key made in the console that made a child over the API, which made a grandchild."""
    parent = services.api_key_create(
        project=project,
        name="automation",
        description="Creates short-lived keys\nfor CI jobs.",
        tags=["ci", "robots"],
        permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT, "can_delete_project_in_project"],
        expires_at=timezone.now() + timedelta(days=30),
        created_by=admin_user,
        ip_address="198.51.100.7",
    ).api_key
    child = services.api_key_create(
        project=project,
        name="ci job 1",
        permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT],
        expires_at=timezone.now() + timedelta(days=1),
        created_by_key=parent,
        ip_address="2001:db8::5",
    ).api_key
    grandchild = services.api_key_create(
        project=project,
        name="ci job 1 step",
        permissions=[catalog.READ_PROJECT],
        expires_at=timezone.now() + timedelta(hours=1),
        created_by_key=child,
    ).api_key
    return parent, child, grandchild


def test_it_shows_every_field(client, project, admin_user, family):
    parent, _, _ = family
    client.force_login(admin_user)

    response = client.get(detail_url(project, parent))

    assert response.status_code == 200
    page = parse(response)
    shown = facts(page)
    assert page.by_id("key-title").text().startswith("automation")
    assert page.find("span", data_testid="status").text() == "Active"
    assert [tag.text() for tag in page.find_all("span", class_="tag")] == ["ci", "robots"]
    assert shown["Description"] == "Creates short-lived keys for CI jobs."
    assert "Creates short-lived keys<br>for CI jobs." in response.content.decode()
    assert shown["Key"].startswith(parent.masked)
    assert shown["ID"] == parent.public_id
    assert shown["Expires"] == f"{when(parent.expires_at)} (in 4 weeks)"
    assert shown["Last used"] == "never"
    assert shown["Created"] == when(parent.created_at)
    assert shown["Created by"] == admin_user.username
    assert "Revoked" not in shown


def test_permissions_are_grouped_by_service_with_labels_and_dangers(client, project, admin_user, family):
    parent, _, _ = family
    client.force_login(admin_user)

    page = parse(client.get(detail_url(project, parent)))

    blocks = page.find_all("div", class_="perm-group-block")
    assert [block.find("h3").text() for block in blocks] == ["Project"]
    items = blocks[0].find_all("li")
    assert [item.find("code").text() for item in items] == [
        catalog.READ_PROJECT,
        "can_delete_project_in_project",
        catalog.CREATE_API_KEYS,
    ]
    assert items[0].text() == f"View the project {catalog.READ_PROJECT} Never checked through us"
    dangerous = [item for item in items if item.find("span", class_="badge-danger")]
    assert len(dangerous) == 2
    assert "The key can delete the project and everything in it." in dangerous[0].text()
    assert "3 permissions · 2 dangerous" in page.by_id("permissions-title").text()


def test_it_shows_the_parent_and_the_children(client, project, admin_user, family):
    parent, child, grandchild = family
    client.force_login(admin_user)

    page = parse(client.get(detail_url(project, child)))

    family_section = page.by_id("family-title").parent
    assert family_section.find("a", href=detail_url(project, parent)).text() == "automation"
    children = family_section.find("table").find("tbody").find_all("tr")
    assert [row.find("a").text() for row in children] == ["ci job 1 step"]
    assert children[0].find("a").attrs["href"] == detail_url(project, grandchild)
    assert facts(page)["Created by"] == "the key automation , through the API"


def test_history_names_who_did_what_from_where(client, project, admin_user, family):
    parent, child, _ = family
    services.api_key_revoke(api_key=parent, revoked_by=admin_user, ip_address="192.0.2.44")
    client.force_login(admin_user)

    page = parse(client.get(detail_url(project, child)))

    history = page.by_id("history-title").parent.find_all("tr")[1:]
    rows = [[cell.text() for cell in row.find_all("td")] for row in history]
    assert rows == [
        [when(child.created_at), "API key created", "the key automation", "2001:db8::5"],
        [when(parent.revoked_at), "API key revoked", admin_user.username, "192.0.2.44"],
    ]
    assert page.find("span", data_testid="status").text() == "Revoked"
    assert facts(page)["Revoked"] == when(parent.revoked_at)
    assert facts(page)["Revoked by"] == admin_user.username
    # A revoked key offers no Revoke.
    assert page.find("a", href=reverse("apikeys:revoke", args=[project.slug, child.public_id])) is None


def test_actions_for_managers_and_none_for_readers(client, project, admin_user, viewer_user, family):
    parent, _, _ = family
    revoke = reverse("apikeys:revoke", args=[project.slug, parent.public_id])
    create_like = reverse("apikeys:create", args=[project.slug]) + f"?from={parent.public_id}"

    client.force_login(admin_user)
    managed = parse(client.get(detail_url(project, parent)))
    client.force_login(viewer_user)
    read_only = parse(client.get(detail_url(project, parent)))

    assert managed.find("a", href=revoke).attrs["hx-get"] == revoke
    assert managed.find("a", href=create_like).text() == "Create a new key with these permissions"
    assert read_only.find("a", href=revoke) is None
    assert read_only.find("a", href=create_like) is None


def test_the_table_links_each_name_to_the_key_page(client, project, admin_user):
    key = ApiKeyFactory(project=project, name="linked")
    client.force_login(admin_user)

    response = client.get(reverse("apikeys:list", args=[project.slug]))

    link = parse(response).by_id(f"key-{key.public_id}").find("a", class_="key-name")
    assert link.attrs["href"] == detail_url(project, key)


def test_keys_of_other_projects_are_not_found(client, project, other_project, admin_user):
    foreign = ApiKeyFactory(project=other_project)
    client.force_login(admin_user)

    assert client.get(reverse("apikeys:detail", args=[project.slug, foreign.public_id])).status_code == 404


def test_expired_key_page(client, project, admin_user):
    key = expired_api_key(project=project, name="old")
    client.force_login(admin_user)

    page = parse(client.get(detail_url(project, key)))

    assert page.find("span", data_testid="status").text() == "Expired"
    assert facts(page)["Expires"].endswith("ago)")


def test_hostile_text_is_escaped(client, project, admin_user):
    key = ApiKeyFactory(project=project, name="<script>alert(1)</script>", description='"><img src=x>')
    client.force_login(admin_user)

    response = client.get(detail_url(project, key))

    text = response.content.decode()
    assert "<script>alert(1)" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_revoking_from_the_key_page_with_htmx_comes_back_to_it(client, project, admin_user, family):
    parent, _, _ = family
    client.force_login(admin_user)

    response = client.post(
        reverse("apikeys:revoke", args=[project.slug, parent.public_id]),
        headers={**HTMX, "HX-Current-URL": "http://testserver" + detail_url(project, parent)},
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == detail_url(project, parent)
    page = parse(client.get(detail_url(project, parent)))
    assert page.find("span", data_testid="status").text() == "Revoked"
    assert "API key “automation” was revoked." in page.by_id("messages").text()


def test_revoke_dialog_names_the_keys_revoked_with_it(client, project, admin_user, family):
    parent, _, _ = family
    client.force_login(admin_user)

    dialog = parse(client.get(reverse("apikeys:revoke", args=[project.slug, parent.public_id]), headers=HTMX))

    consequences = dialog.find("ul", class_="consequences")
    assert "It created 2 keys, which are revoked with it:" in consequences.text()
    assert [name.text() for name in consequences.find_all("strong")] == ["ci job 1", "ci job 1 step"]
    assert "401 Unauthorized" in consequences.text()


def test_detail_page_query_count_is_fixed(client, project, admin_user, family, django_assert_max_num_queries):
    parent, _, _ = family
    client.force_login(admin_user)
    client.get(detail_url(project, parent))

    # 10: the one more since service accounts is the account the key was moved to, if any.
    with django_assert_max_num_queries(10):
        client.get(detail_url(project, parent))
