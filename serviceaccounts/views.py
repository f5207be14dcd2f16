"""The console's service-account pages (SPEC §8), and "Move to a service account" on an API key.

Every page starts from `Org`: a user who is not a member of the
organization gets 404, as for a project. Members see the service accounts
that are members of their projects, read-only; Admins and Owners manage
them. Every change goes through serviceaccounts.services, which checks the
rules again under the organization's lock: the pages only decide what to
offer.
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from apikeys import addresses
from apikeys.errors import ApiKeyError, http_status
from apikeys.forms import PRESETS, show_refusal
from apikeys.models import ApiKey, CreationTicket, Status
from config.http import client_ip, no_store, whoami_curl
from projects import catalog
from projects.access import get_project_or_404, missing_permission_message
from projects.backends import project_permissions
from projects.models import Organization, OrganizationRole, Project
from projects.roles import default_organization_role
from projects.tabs import project_tabs
from serviceaccounts import services
from serviceaccounts.forms import CredentialCreateForm, MembershipForm, MoveForm, ServiceAccountForm
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent, ServiceAccountMembership
from serviceaccounts.services import Actor


def _actor(request: HttpRequest) -> Actor:
    return Actor(user=request.user, ip_address=client_ip(request))


class Org:
    """The organization a page is about, and what the user may do there."""

    def __init__(self, request: HttpRequest, slug: str):
        self.organization = get_object_or_404(Organization, slug=slug)
        self.role: OrganizationRole | None = services.organization_role(_actor(request), self.organization)
        if self.role is None:
            raise Http404("No such organization.")
        self.user = request.user

    @staticmethod
    def may_see(request: HttpRequest, account: ServiceAccount) -> bool:
        """Whether the user may open the account's page (other pages link to it only then)."""
        try:
            org = Org(request, account.organization.slug)
        except Http404:
            return False
        return org.accounts().filter(pk=account.pk).exists()

    @property
    def manages(self) -> bool:
        return self.role.manages_service_accounts

    @property
    def owner(self) -> bool:
        return self.role.manages_organization

    def accounts(self):
        """The service accounts the user may see: all for an Admin or Owner, else those in the user's projects."""
        found = ServiceAccount.objects.filter(organization=self.organization)
        if self.manages:
            return found
        return found.filter(memberships__project__memberships__user=self.user).distinct()

    def visible_projects(self):
        """The organization's projects whose names the user may see: all for Admins and Owners, else their own."""
        projects = Project.objects.filter(organization=self.organization)
        return projects if self.manages else projects.filter(memberships__user=self.user)

    def require_manage(self) -> None:
        if not self.manages:
            raise PermissionDenied(
                gettext("Managing service accounts needs the organization role Admin or Owner in %(organization)s.")
                % {"organization": self.organization.name}
            )

    def context(self, **extra) -> dict:
        return {"organization": self.organization, "org_role": self.role, "can_manage": self.manages} | extra


def _account(org: Org, public_id: str, *, undeleted: bool = False) -> ServiceAccount:
    accounts = org.accounts().select_related("organization_role", "created_by", "moved_from_key__project")
    if undeleted:
        accounts = accounts.filter(deleted_at__isnull=True)
    return get_object_or_404(accounts, public_id=public_id)


def _detail_url(account: ServiceAccount) -> str:
    return reverse("serviceaccounts:detail", args=[account.organization.slug, account.public_id])


# -- the list and one account ------------------------------------------------------------


@require_safe
def account_list(request: HttpRequest, org_slug: str):
    org = Org(request, org_slug)
    now = timezone.now()
    show_deleted = org.manages and request.GET.get("deleted") == "1"
    accounts = (
        org.accounts()
        .select_related("organization_role")
        .annotate(
            active_credentials=Count(
                "credentials",
                filter=Q(credentials__revoked_at__isnull=True)
                & (Q(credentials__expires_at__isnull=True) | Q(credentials__expires_at__gt=now)),
                distinct=True,
            )
        )
        .prefetch_related(Prefetch("memberships", queryset=_memberships_for(org)))
        .order_by("name", "id")
    )
    deleted = accounts.filter(deleted_at__isnull=False).count() if org.manages else 0
    accounts = accounts.filter(deleted_at__isnull=not show_deleted)
    return render(
        request,
        "serviceaccounts/account_list.html",
        org.context(accounts=list(accounts), deleted=deleted, show_deleted=show_deleted),
    )


def _memberships_for(org: Org):
    """The memberships the user may see: of every project for Admins and Owners, else of the user's projects."""
    memberships = ServiceAccountMembership.objects.select_related("project").order_by("project__name")
    if not org.manages:
        memberships = memberships.filter(project__memberships__user=org.user)
    return memberships


@require_safe
def account_detail(request: HttpRequest, org_slug: str, public_id: str):
    org = Org(request, org_slug)
    account = _account(org, public_id)
    memberships = list(_memberships_for(org).filter(service_account=account))
    member_of = {m.project_id for m in memberships}
    addable = (
        [p for p in org.visible_projects().order_by("name") if p.pk not in member_of]
        if org.manages and account.deleted_at is None
        else []
    )
    hidden_projects = 0 if org.manages else account.memberships.exclude(pk__in=[m.pk for m in memberships]).count()
    credentials = list(account.credentials.select_related("created_by", "created_by_credential", "revoked_by"))
    now = timezone.now()
    context = org.context(
        account=account,
        memberships=memberships,
        hidden_projects=hidden_projects,
        addable=addable,
        credentials=credentials,
        active_credentials=sum(1 for c in credentials if c.status(now) not in (Status.REVOKED, Status.EXPIRED)),
        events=_events_for(org, account),
        moved_from=_visible_key(org, account.moved_from_key),
        # Offered only when possible; else the page says why.
        credential_refusal=_refusal_text(services.credential_refusal(_actor(request), account))
        if org.manages
        else None,
        enable_refusal=(
            _refusal_text(services.enable_refusal(_actor(request), account))
            if org.manages and account.disabled_at
            else None
        ),
        # Who created it when no user row says so: the operator, or a user deleted since (the audit keeps the name).
        creator_label=(
            ""
            if account.created_by_id or account.created_by_credential_id
            else account.events.filter(action=ServiceAccountEvent.Action.CREATED)
            .values_list("actor_label", flat=True)
            .first()
        ),
    )
    return render(request, "serviceaccounts/account_detail.html", context)


def _visible_key(org: Org, api_key: ApiKey | None) -> ApiKey | None:
    """The key an account was moved from, if the user may know of it: a manager, or a member of its project."""
    if api_key is None or org.manages or project_permissions(org.user, api_key.project) is not None:
        return api_key
    return None


def _events_for(org: Org, account: ServiceAccount):
    """The account's audit trail; a Member does not see the events of projects they do not belong to."""
    events = account.events.select_related("credential").order_by("at", "id")
    if not org.manages:
        events = events.filter(Q(project__isnull=True) | Q(project__memberships__user=org.user)).distinct()
    return events


@require_http_methods(["GET", "HEAD", "POST"])
def account_create(request: HttpRequest, org_slug: str):
    org = Org(request, org_slug)
    org.require_manage()
    form = ServiceAccountForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            account = services.create_service_account(
                organization=org.organization,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                actor=_actor(request),
            )
        except ApiKeyError as error:
            status = show_refusal(form, error)
        else:
            messages.success(
                request,
                gettext("Service account “%(name)s” was created. Add it to a project, then create a credential.")
                % {"name": account.name},
            )
            return redirect(_detail_url(account))
    return render(request, "serviceaccounts/account_form.html", org.context(form=form), status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def account_edit(request: HttpRequest, org_slug: str, public_id: str):
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id, undeleted=True)
    form = ServiceAccountForm(request.POST or None, initial={"name": account.name, "description": account.description})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.update_service_account(
                account,
                actor=_actor(request),
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except ApiKeyError as error:
            status = show_refusal(form, error)
        else:
            messages.success(request, gettext("The service account was saved."))
            return redirect(_detail_url(account))
    context = org.context(form=form, account=account)
    return render(request, "serviceaccounts/account_form.html", context, status=status)


# -- confirmations: disable, enable, delete, the organization role, removal, revocation --


def _confirm(request, org: Org, account, *, title, lines, button, action, danger=True, dialog_id="confirm-dialog"):
    """A confirmation: a <dialog> when htmx asks (the link's hx-get), a page otherwise; it posts to `action`."""
    context = org.context(
        account=account,
        title=title,
        lines=lines,
        button=button,
        action=action,
        danger=danger,
        cancel_url=_detail_url(account),
        dialog_id=dialog_id,
    )
    template = "serviceaccounts/_confirm_dialog.html" if request.htmx else "serviceaccounts/confirm.html"
    return render(request, template, context)


def _act(request, org: Org, account, change, done: str) -> HttpResponse:
    """Run a change through the services; back to the account's page with what happened, or the refusal."""
    try:
        change()
    except ApiKeyError as error:
        messages.error(request, error.message)
        return redirect(_detail_url(account))
    messages.success(request, done)
    return redirect(_detail_url(account))


@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def account_disable(request: HttpRequest, org_slug: str, public_id: str, disable: bool):
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id, undeleted=True)
    name = {"name": account.name}
    if request.method == "POST":
        done = (
            gettext("Service account “%(name)s” was disabled; its credentials stop working at once.")
            if disable
            else gettext("Service account “%(name)s” was enabled; its credentials work again.")
        ) % name
        return _act(request, org, account, lambda: services.set_disabled(account, disable, actor=_actor(request)), done)
    if disable:
        return _confirm(
            request,
            org,
            account,
            title=gettext("Disable Service Account"),
            lines=[
                gettext("Disable “%(name)s”?") % name,
                gettext("Every program using one of its credentials gets “401 Unauthorized” from its next request on."),
                gettext("You can enable it again later; its credentials then work again."),
            ],
            button=gettext("Disable"),
            action=reverse("serviceaccounts:disable", args=[org_slug, public_id]),
        )
    return _confirm(
        request,
        org,
        account,
        title=gettext("Enable Service Account"),
        lines=[
            gettext("Enable “%(name)s”?") % name,
            gettext("Its credentials that are neither revoked nor expired work again from the next request on."),
            gettext("Enabling it needs every permission it holds in each of its projects."),
        ],
        button=gettext("Enable"),
        action=reverse("serviceaccounts:enable", args=[org_slug, public_id]),
        danger=False,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def account_delete(request: HttpRequest, org_slug: str, public_id: str):
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id, undeleted=True)
    name = {"name": account.name}
    if request.method == "POST":
        try:
            services.delete_service_account(account, actor=_actor(request))
        except ApiKeyError as error:
            messages.error(request, error.message)
            return redirect(_detail_url(account))
        messages.success(request, gettext("Service account “%(name)s” was deleted.") % name)
        return redirect("serviceaccounts:list", org_slug=org_slug)
    return _confirm(
        request,
        org,
        account,
        title=gettext("Delete Service Account"),
        lines=[
            gettext("Delete “%(name)s”?") % name,
            gettext(
                "Its credentials are revoked: every program using one gets “401 Unauthorized” from its next request on."
            ),
            gettext("This cannot be undone. Its history stays for the audit trail."),
        ],
        button=gettext("Delete Service Account"),
        action=reverse("serviceaccounts:delete", args=[org_slug, public_id]),
    )


@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def account_role(request: HttpRequest, org_slug: str, public_id: str):
    """An Owner gives a service account the organization role Admin, or takes it back."""
    org = Org(request, org_slug)
    if not org.owner:
        raise PermissionDenied(gettext("Only an Owner of the organization can change a service account's role."))
    account = _account(org, public_id, undeleted=True)
    give = not account.is_org_admin
    name = {"name": account.name}
    if request.method == "POST":
        role = default_organization_role(catalog.ADMIN) if give else None
        done = (
            gettext("“%(name)s” now has the organization role Admin.")
            if give
            else gettext("“%(name)s” no longer has an organization role.")
        ) % name
        return _act(
            request,
            org,
            account,
            lambda: services.update_service_account(account, actor=_actor(request), organization_role=role),
            done,
        )
    if give:
        lines = [
            gettext("Give “%(name)s” the organization role Admin?") % name,
            gettext(
                "Its credentials can then manage every service account of %(organization)s through the API: "
                "create and delete them, change their permissions and create their credentials, within what "
                "“%(name)s” holds itself."
            )
            % {"organization": org.organization.name, **name},
            gettext("Use it for automation such as a Terraform provider."),
        ]
    else:
        lines = [
            gettext("Take the organization role Admin from “%(name)s”?") % name,
            gettext("Its credentials can no longer manage service accounts; its project permissions stay."),
        ]
    return _confirm(
        request,
        org,
        account,
        title=gettext("Organization Role"),
        lines=lines,
        button=gettext("Give the Admin role") if give else gettext("Take the Admin role"),
        action=reverse("serviceaccounts:role", args=[org_slug, public_id]),
        danger=give,
    )


# -- project memberships -------------------------------------------------------------------


@require_safe
def membership_add(request: HttpRequest, org_slug: str, public_id: str):
    """The "Add to a project" chooser posts here (GET, so it works without JavaScript): on to that project's form."""
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id, undeleted=True)
    slug = request.GET.get("project", "")[:50]
    project = org.visible_projects().filter(slug=slug).first()
    if project is None:
        messages.error(request, gettext("Choose a project of %(organization)s.") % {"organization": org.organization})
        return redirect(_detail_url(account))
    return redirect("serviceaccounts:membership", org_slug=org_slug, public_id=public_id, project_slug=project.slug)


def _project_in(org: Org, slug: str) -> Project:
    return get_object_or_404(org.visible_projects(), slug=slug)


@require_http_methods(["GET", "HEAD", "POST"])
def membership_edit(request: HttpRequest, org_slug: str, public_id: str, project_slug: str):
    """Add the account to a project, or change its permissions there, with the keys' permission matrix."""
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id, undeleted=True)
    project = _project_in(org, project_slug)
    membership = ServiceAccountMembership.objects.filter(service_account=account, project=project).first()
    current = list(membership.permissions) if membership else []
    # The matrix offers what the user holds: they may add and take away only
    # those. What the account holds beyond them stays as it is (`kept`).
    held = frozenset(services.held_in(_actor(request), project))
    kept = [code for code in current if code not in held]
    status = 200
    if request.method == "POST":
        form = MembershipForm(request.POST, grantable=held)
        if form.is_valid():
            chosen = set(form.cleaned_data["permissions"]) | set(kept)
            try:
                services.set_membership(
                    account,
                    project=project,
                    permissions=[p.codename for p in catalog.CATALOG if p.codename in chosen],
                    actor=_actor(request),
                )
            except ApiKeyError as error:
                status = show_refusal(form, error)
            else:
                messages.success(
                    request,
                    gettext(
                        "The permissions of “%(name)s” in %(project)s were saved; they hold from the next request on."
                    )
                    % {"name": account.name, "project": project.name},
                )
                return redirect(_detail_url(account))
    else:
        preset = PRESETS.get(request.GET.get("preset", ""))
        chosen = preset(held) if preset else set(current)
        initial = {"permissions": [p.codename for p in catalog.CATALOG if p.codename in chosen and p.codename in held]}
        form = MembershipForm(initial=initial, grantable=held)
    context = org.context(
        account=account,
        project=project,
        membership=membership,
        form=form,
        ungrantable=[p for p in catalog.CATALOG if p.codename not in held and p.codename not in kept],
        kept=[catalog.BY_CODENAME[code].display_label for code in kept if code in catalog.BY_CODENAME],
        dangerous_left_out_shown=request.GET.get("preset") == "all",
        for_account=True,
    )
    return render(request, "serviceaccounts/membership_form.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def membership_remove(request: HttpRequest, org_slug: str, public_id: str, project_slug: str):
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id, undeleted=True)
    project = _project_in(org, project_slug)
    names = {"name": account.name, "project": project.name}
    if request.method == "POST":
        done = gettext("“%(name)s” was removed from %(project)s.") % names
        return _act(
            request,
            org,
            account,
            lambda: services.remove_membership(account, project=project, actor=_actor(request)),
            done,
        )
    return _confirm(
        request,
        org,
        account,
        title=gettext("Remove from Project"),
        lines=[
            gettext("Remove “%(name)s” from %(project)s?") % names,
            gettext("Its credentials are refused everything in this project from the next request on."),
            gettext("You can add it again later."),
        ],
        button=gettext("Remove"),
        action=reverse("serviceaccounts:membership_remove", args=[org_slug, public_id, project_slug]),
    )


# -- credentials -----------------------------------------------------------------------------


def _refusal_text(refusal: ApiKeyError | None) -> str | None:
    return refusal.message if refusal is not None else None


@require_http_methods(["GET", "HEAD", "POST"])
def credential_create(request: HttpRequest, org_slug: str, public_id: str):
    """The form, and on success the view-once secret page (rendered into the POST's answer, never stored)."""
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id)
    context = org.context(account=account, max_allowed_ips=addresses.MAX_ALLOWED_IPS)
    if reason := _refusal_text(services.credential_refusal(_actor(request), account)):
        context["refusal"] = reason
        return no_store(render(request, "serviceaccounts/credential_form.html", context, status=403))
    status = 200
    if request.method == "POST":
        form = CredentialCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = services.create_credential(
                    account,
                    name=data["name"],
                    expires_at=data["expires_at"],
                    allowed_ips=data["allowed_ips"],
                    actor=_actor(request),
                    ticket=data["ticket"],
                )
            except ApiKeyError as error:
                if error.code == "already_submitted":
                    messages.warning(request, error.message)
                    return redirect(_detail_url(account))
                status = show_refusal(form, error)
            else:
                return _credential_secret(request, org, account, created)
    else:
        form = CredentialCreateForm(initial={"ticket": CreationTicket.objects.issue(user=request.user)})
    context["form"] = form
    return no_store(render(request, "serviceaccounts/credential_form.html", context, status=status))


def _credential_secret(request, org: Org, account, created: services.CreatedCredential, moved_from=None):
    context = org.context(
        account=account,
        credential=created.credential,
        secret=created.secret,
        moved_from=moved_from,
        memberships=list(account.memberships.select_related("project")),
        curl_command=whoami_curl(request, created.secret),
    )
    return no_store(render(request, "serviceaccounts/credential_secret.html", context, status=201))


@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def credential_revoke(request: HttpRequest, org_slug: str, public_id: str, credential_id: str):
    org = Org(request, org_slug)
    org.require_manage()
    account = _account(org, public_id)
    credential = get_object_or_404(Credential, service_account=account, public_id=credential_id)
    names = {"name": credential.name}
    if request.method == "POST":

        def revoke():
            if not services.revoke_credential(credential, actor=_actor(request)):
                raise ApiKeyError(gettext("Credential “%(name)s” was already revoked.") % names, code="conflict")

        return _act(request, org, account, revoke, gettext("Credential “%(name)s” was revoked.") % names)
    if credential.revoked_at is not None:
        lines = [gettext("“%(name)s” is already revoked.") % names]
        action = ""
    else:
        lines = [
            gettext("Revoke “%(name)s” (%(masked)s)?") % {**names, "masked": credential.masked},
            gettext("Every program using this credential gets “401 Unauthorized” from its next request on."),
            gettext("This cannot be undone: a revoked credential can never be used again."),
        ]
        action = reverse("serviceaccounts:credential_revoke", args=[org_slug, public_id, credential_id])
    return _confirm(
        request,
        org,
        account,
        title=gettext("Revoke Credential"),
        lines=lines,
        button=gettext("Revoke Credential"),
        action=action,
    )


# -- "Move to a service account" on an API key ------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def key_move(request: HttpRequest, slug: str, public_id: str):
    """The confirmation page of "Move to a service account"; POST creates the account and shows its credential once.

    Linked from every API key's page, for whoever sees the key. Moving needs
    what creating the credential needs (the organization role Admin or Owner
    and every permission of the key); the page says what will be created and,
    when the user may not move it, why (403) and who can.
    """
    project = get_project_or_404(request, slug)
    if not any(
        request.user.has_perm(catalog.perm(code), project) for code in (catalog.READ_API_KEYS, catalog.CREATE_API_KEYS)
    ):
        raise PermissionDenied(missing_permission_message(catalog.CREATE_API_KEYS))
    api_key = get_object_or_404(
        ApiKey.objects.select_related("project__organization"), project=project, public_id=public_id
    )
    organization = project.organization
    actor = _actor(request)
    moved = services.moved_to(api_key)
    plan = services.plan_move(api_key, moved=moved)
    refusal = services.move_refusal(actor, api_key, timezone.now(), moved=moved)
    context = project_tabs(request, project, "api_keys") | {
        "api_key": api_key,
        "plan": plan,
        "organization": organization,
        "org_member": services.organization_role(actor, organization) is not None,
        "moved_to": moved,
        "refusal": refusal.message if refusal else None,
    }
    if refusal:
        return no_store(render(request, "serviceaccounts/key_move.html", context, status=http_status(refusal)))
    status = 200
    if request.method == "POST":
        form = MoveForm(request.POST)
        if form.is_valid():
            try:
                moved = services.move_api_key(
                    api_key, name=form.cleaned_data["name"], actor=actor, ticket=form.cleaned_data["ticket"]
                )
            except ApiKeyError as error:
                if error.code == "already_submitted":
                    messages.warning(request, error.message)
                    return redirect("apikeys:detail", slug=slug, public_id=public_id)
                status = show_refusal(form, error)
            else:
                org = Org(request, organization.slug)
                return _credential_secret(request, org, moved.service_account, moved.created, moved_from=api_key)
    else:
        form = MoveForm(initial={"name": plan.name, "ticket": CreationTicket.objects.issue(user=request.user)})
    context["form"] = form
    return no_store(render(request, "serviceaccounts/key_move.html", context, status=status))


def organization_for_deprecation(request: HttpRequest, project: Project) -> dict:
    """Where the API Keys tab sends its users once keys are deprecated: its organization's service accounts."""
    if not (settings.API_KEYS_DEPRECATED or settings.API_KEY_CREATION_DISABLED):
        return {}
    role = services.organization_role(_actor(request), project.organization)
    return {
        "service_accounts_url": reverse("serviceaccounts:list", args=[project.organization.slug]) if role else "",
        "service_accounts_create_url": (
            reverse("serviceaccounts:create", args=[project.organization.slug])
            if role and role.manages_service_accounts
            else ""
        ),
        "service_accounts_organization": project.organization,
    }


def service_account_members(request: HttpRequest, project: Project) -> dict:
    """The project page's list of its service-account members; linked for members of the organization."""
    memberships = (
        ServiceAccountMembership.objects.filter(project=project, service_account__deleted_at__isnull=True)
        .select_related("service_account")
        .order_by("service_account__name")
    )
    role = services.organization_role(_actor(request), project.organization)
    return {
        "service_account_memberships": memberships,
        "organization": project.organization,
        "org_member": role is not None,
        "org_manages": role is not None and role.manages_service_accounts,
    }
