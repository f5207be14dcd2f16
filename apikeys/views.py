from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from apikeys import addresses, services
from apikeys.errors import ApiKeyError, http_status
from apikeys.forms import PRESETS, ApiKeyCreateForm
from apikeys.models import ApiKey, CreationTicket, Status
from config.http import client_ip, no_store, whoami_curl
from projects import catalog
from projects.access import get_project_or_404, missing_permission_message
from projects.models import Project
from projects.tabs import project_tabs
from serviceaccounts import services as services_for_accounts
from serviceaccounts.services import Actor, moved_to
from serviceaccounts.views import Org, organization_for_deprecation

CREATE = catalog.perm(catalog.CREATE_API_KEYS)
READ = catalog.perm(catalog.READ_API_KEYS)


def key_row_words() -> dict[str, str]:
    """What every row of the key table repeats (templates/apikeys/_key_row.html),
    translated once per page rather than once per row. The *_named phrases
    carry the row's key name: the row fills it in (the with_name filter)."""
    return {
        "copy": gettext("Create a new key with these permissions"),
        # Translators: the accessible name of a row's icon link to the create form.
        "copy_named": gettext("Create a new key with the permissions of “%(name)s”"),
        "revoke": gettext("Revoke"),
        "roll": gettext("Roll"),
        "grace_used": gettext("Old secret still in use"),
        "grace_unused": gettext("Old secret unused since the roll"),
        # Translators: what a screen reader says for a row's Roll link. It must
        # contain the translation of "Roll" (the link's visible text), in any letter case.
        "roll_named": gettext("Roll “%(name)s”"),
        # Translators: what a screen reader says for a row's Revoke link. It must
        # contain the translation of "Revoke" (the link's visible text), in any letter case.
        "revoke_named": gettext("Revoke “%(name)s”"),
        "status": gettext("Status"),
        "permissions": gettext("Permissions"),
        "key": gettext("Key"),
        "expires": gettext("Expires"),
        "last_used": gettext("Last used"),
        "created": gettext("Created"),
        "never": gettext("never"),
    }


def _tabs(request: HttpRequest, project: Project) -> dict:
    """The tab bar's context, and what each key row needs besides its key."""
    return project_tabs(request, project, "api_keys") | {
        "create_url": reverse("apikeys:create", args=[project.slug]),
        "row_words": key_row_words(),
    }


def _load_project_for_listing(request: HttpRequest, slug: str) -> tuple[Project, bool]:
    """The project and whether the user may manage keys (else read-only)."""
    project = get_project_or_404(request, slug)
    can_manage = request.user.has_perm(CREATE, project)
    if not can_manage and not request.user.has_perm(READ, project):
        raise PermissionDenied(missing_permission_message(catalog.CREATE_API_KEYS))
    return project, can_manage


# The status filter: by default the keys that still work; a search looks at
# every status unless one is chosen.
CURRENT, ALL = "", "all"
STATUS_FILTERS = [
    (CURRENT, _("Active and expiring")),
    (ALL, _("All statuses")),
    *Status.choices,
]


@require_safe
# htmx asks for the list fragment alone: caches must keep the two apart.
@vary_on_headers("HX-Request", "HX-Target")
def key_list(request: HttpRequest, slug: str):
    project, can_manage = _load_project_for_listing(request, slug)
    # Each filter stands on its own: a bad status must not drop the search.
    status = request.GET.get("status", "")
    status = status if status in dict(STATUS_FILTERS) else CURRENT
    q = request.GET.get("q", "").strip()[:100]
    keys = ApiKey.objects.filter(project=project).select_related(
        "created_by", "created_by_key", "revoked_by", "successor", "predecessor"
    )
    hidden, counted, expiring_soon = 0, None, 0
    if status == CURRENT and not q:
        now = timezone.now()
        counted, hidden, expiring_soon = ApiKey.objects.status_counts(project, now)
        keys = keys.active(now)
    elif status not in (CURRENT, ALL):
        keys = keys.with_status(status)
    keys = keys.search(q)
    paginator = Paginator(keys, per_page=settings.API_KEYS_PER_PAGE)
    if counted is not None:
        paginator.count = counted  # a cached property: counted above, with the hidden ones
    page = paginator.get_page(request.GET.get("page"))
    context = _tabs(request, project)
    context.update(
        page=page,
        status=status,
        q=q,
        status_filters=STATUS_FILTERS,
        hidden=hidden,
        show_all_query=_query_string(ALL, ""),
        expiring_soon=expiring_soon,
        expiring_soon_query=_query_string(Status.EXPIRES_SOON, ""),
        filtering=bool(status or q),
        query_string=_query_string(status, q),
        can_manage=can_manage,
        creation_disabled_reason=services.creation_disabled_reason(),
        deprecated=_deprecated(),
        **organization_for_deprecation(request, project),
    )
    if request.htmx and request.htmx.target == "key-list":
        return render(request, "apikeys/_key_list.html", context)
    return render(request, "apikeys/key_list.html", context)


def _query_string(status: str, q: str) -> str:
    return urlencode({k: v for k, v in (("status", status), ("q", q)) if v})


@require_safe
def key_detail(request: HttpRequest, slug: str, public_id: str):
    """Everything about one key: its fields, permissions, family and audit trail."""
    project, can_manage = _load_project_for_listing(request, slug)
    api_key = get_object_or_404(
        ApiKey.objects.select_related(
            "created_by", "created_by_key", "revoked_by", "revoked_by_key", "successor", "predecessor"
        ),
        project=project,
        public_id=public_id,
    )
    context = _tabs(request, project)
    context.update(
        api_key=api_key,
        can_manage=can_manage,
        creation_disabled_reason=services.creation_disabled_reason(),
        refused=api_key.refused_permissions(),
        narrower_days=NARROWER_WINDOW.days,
        narrower_count=len(api_key.needed_since(timezone.now() - NARROWER_WINDOW)),
        never_checked=len(api_key.never_checked()),
        children=ApiKey.objects.filter(parent=api_key).order_by("-created_at", "-id"),
        predecessor=api_key.rolled_from,
        **_moved_to(request, api_key, can_manage),
        deprecated=_deprecated(),
        events=api_key.audit_events.select_related("actor_user", "actor_key").order_by("at", "id"),
    )
    return render(request, "apikeys/key_detail.html", context)


def _moved_to(request: HttpRequest, api_key: ApiKey, can_manage: bool) -> dict:
    """The service account made from the key (the latest, even deleted), its page's address if the user may open
    it, and whether the user may move the key now (the Move link shows then, or to key managers, whom the
    confirmation page tells why not)."""
    account = moved_to(api_key, deleted_too=True)
    url = ""
    if account is not None and Org.may_see(request, account):
        url = reverse("serviceaccounts:detail", args=[account.organization.slug, account.public_id])
    now = timezone.now()
    undeleted = account if account is not None and account.deleted_at is None else None
    movable = services_for_accounts.key_move_refusal(api_key, now, moved=undeleted) is None
    # Who may also move it without managing keys: an organization Admin or Owner holding all its permissions.
    may_move = (
        movable
        and not can_manage
        and services_for_accounts.move_refusal(Actor(user=request.user), api_key, now, moved=undeleted) is None
    )
    return {"moved_to": account, "moved_to_url": url, "movable": movable, "may_move": may_move}


def _deprecated() -> bool:
    return settings.API_KEYS_DEPRECATED or settings.API_KEY_CREATION_DISABLED


@require_http_methods(["GET", "HEAD", "POST"])
def key_create(request: HttpRequest, slug: str):
    """The create form, and on success the view-once secret page.

    1. GET renders the form with a fresh one-time ticket.
    2. POST validates; the service checks the rules again, consumes the ticket
       and inserts the key in one transaction.
    3. The secret is rendered straight into this POST's response (never
       stored, never redirected through the session) with no-store headers.
       A resubmission finds the ticket used and creates nothing.
    """
    project = get_project_or_404(request, slug, catalog.CREATE_API_KEYS)
    context = _tabs(request, project)
    if reason := services.creation_disabled_reason():
        context["creation_disabled_reason"] = reason
        context.update(organization_for_deprecation(request, project))
        return no_store(render(request, "apikeys/key_create.html", context, status=403))

    grantable = services.grantable_permissions(user=request.user, project=project)
    status = 200
    if request.method == "POST":
        form = ApiKeyCreateForm(request.POST, grantable=grantable)
        if form.is_valid():
            created = form.create_key(project=project, user=request.user, ip_address=client_ip(request))
            if created is not None:
                return _secret_page(request, project, created)
            if form.refusal.code == "already_submitted":
                messages.warning(request, form.refusal.message)
                return redirect("apikeys:list", slug=project.slug)
            status = form.status
    else:
        form = ApiKeyCreateForm(initial=_prefill(request, project, grantable), grantable=grantable)
        form.initial["ticket"] = CreationTicket.objects.issue(user=request.user)

    context.update(
        form=form,
        ungrantable=[p for p in catalog.CATALOG if p.codename not in grantable],
        prefilled_from=form.initial.get("_from"),
        prefill_dropped=form.initial.get("_dropped", []),
        narrower=form.initial.get("_narrower", False),
        narrower_days=NARROWER_WINDOW.days,
        unused=[catalog.BY_CODENAME[code].display_label for code in form.initial.get("_unused", [])],
        never_checked=[catalog.BY_CODENAME[code].display_label for code in form.initial.get("_never_checked", [])],
        max_allowed_ips=addresses.MAX_ALLOWED_IPS,
        # "Everything I may grant" left the dangerous ones out: the page says which.
        dangerous_left_out_shown=form.initial.get("_preset") == "all",
    )
    return no_store(render(request, "apikeys/key_create.html", context, status=status))


# "Create a narrower key" pre-selects the permissions a key needed this recently.
NARROWER_WINDOW = timedelta(days=30)


def _prefill(request: HttpRequest, project: Project, grantable: frozenset[str]) -> dict:
    """Initial values from ?preset=read|all|all-with-dangerous, from
    ?from=<public id> ("create a new key with these permissions"), or from
    ?narrower=<public id> (only the permissions it needed in NARROWER_WINDOW)."""
    name = request.GET.get("preset", "")
    if preset := PRESETS.get(name):
        chosen = preset(grantable)
        return {"permissions": [p.codename for p in catalog.CATALOG if p.codename in chosen], "_preset": name}
    narrower = "narrower" in request.GET
    source_id = request.GET.get("narrower" if narrower else "from", "")
    if not source_id:
        return {}
    source = ApiKey.objects.filter(project=project, public_id=source_id[:32]).first()
    if source is None:
        return {}
    wanted = source.needed_since(timezone.now() - NARROWER_WINDOW) if narrower else source.permissions
    return {
        "permissions": [code for code in wanted if code in grantable],
        "description": source.description,
        "tags": ", ".join(source.tags),
        "allowed_ips": "\n".join(source.allowed_ips),
        "_from": source,
        "_narrower": narrower,
        # What the narrower key leaves out, as the page explains it.
        "_unused": [code for code in source.permissions if code not in wanted and code in source.permissions_used],
        "_never_checked": source.never_checked(),
        # What the source has and this user cannot grant: the page names them.
        "_dropped": [
            catalog.BY_CODENAME[code].display_label
            for code in wanted
            if code not in grantable and code in catalog.BY_CODENAME
        ],
    }


def _secret_page(
    request: HttpRequest, project: Project, created: services.CreatedKey, rolled: ApiKey | None = None
) -> HttpResponse:
    context = _tabs(request, project)
    context.update(
        api_key=created.api_key,
        secret=created.secret,
        rolled=rolled,
        curl_command=whoami_curl(request, created.secret),
    )
    return no_store(render(request, "apikeys/key_secret.html", context, status=201))


@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")  # a dialog or a page; a table row or a redirect
def key_revoke(request: HttpRequest, slug: str, public_id: str):
    """Confirmation (a <dialog> for htmx, a full page otherwise); POST revokes."""
    project = get_project_or_404(request, slug, catalog.CREATE_API_KEYS)
    api_key = get_object_or_404(ApiKey.objects.select_related("created_by"), project=project, public_id=public_id)
    context = _tabs(request, project)
    context.update(api_key=api_key, can_manage=True, creation_disabled_reason=services.creation_disabled_reason())

    if request.method != "POST":
        # The keys revoked with it that still work: what stops working too.
        now = timezone.now()
        context["revoked_too"] = [key for key in api_key.unrevoked_descendants() if not key.is_expired(now)]
        template = "apikeys/_revoke_dialog.html" if request.htmx else "apikeys/key_revoke.html"
        return render(request, template, context)

    revoked = services.api_key_revoke(api_key=api_key, revoked_by=request.user, ip_address=client_ip(request))
    if revoked:
        text = gettext("API key “%(name)s” was revoked.") % {"name": api_key.name}
    else:
        text = gettext("API key “%(name)s” was already revoked.") % {"name": api_key.name}
    detail_url = reverse("apikeys:detail", args=[project.slug, api_key.public_id])
    if request.htmx and urlsplit(request.htmx.current_url or "").path == detail_url:
        # The dialog was opened on the key's own page: show that page again, revoked.
        messages.success(request, text)
        return HttpResponseClientRedirect(detail_url)
    if request.htmx:
        context["announcement"] = text
        response = render(request, "apikeys/_key_row.html", context)
        return trigger_client_event(response, "apikeys:revoked", {"public_id": api_key.public_id})
    messages.success(request, text)
    # Every status, so the revoked entry is still there, showing "Revoked".
    return redirect(reverse("apikeys:list", args=[project.slug]) + "?" + _query_string(ALL, ""))


# The grace periods the console offers (services.GRACE_PERIODS), in seconds, with their labels; 24 hours preselected.
GRACE_CHOICES = list(
    zip(
        (int(period.total_seconds()) for period in services.GRACE_PERIODS),
        (_("None: the old key stops at once"), _("1 hour"), _("24 hours"), _("7 days")),
        strict=True,
    )
)
DEFAULT_GRACE = 86400


@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")  # a dialog or a page
def key_roll(request: HttpRequest, slug: str, public_id: str):
    """Roll confirmation with the grace choice (a <dialog> for htmx, a page otherwise); POST rolls.

    The POST is a plain form submission in both cases: its answer is the new
    secret's view-once page (no-store), never a fragment.
    """
    project = get_project_or_404(request, slug, catalog.CREATE_API_KEYS)
    api_key = get_object_or_404(ApiKey.objects.select_related("successor"), project=project, public_id=public_id)
    context = _tabs(request, project)
    context.update(
        api_key=api_key,
        status=api_key.status(),
        grace_choices=GRACE_CHOICES,
        grace=DEFAULT_GRACE,
        creation_disabled_reason=services.creation_disabled_reason(),
    )
    if request.method == "POST":
        try:
            grace = int(request.POST.get("grace", ""))
        except ValueError:
            grace = None
        if grace not in dict(GRACE_CHOICES):
            context["error"] = gettext("Choose how long the old key keeps working.")
            return render(request, "apikeys/key_roll.html", context, status=400)
        try:
            created = services.api_key_roll(
                api_key=api_key,
                grace=timedelta(seconds=grace),
                rolled_by=request.user,
                ip_address=client_ip(request),
            )
        except ApiKeyError as error:
            context.update(error=error.message, grace=grace)
            return render(request, "apikeys/key_roll.html", context, status=http_status(error))
        return _secret_page(request, project, created, rolled=api_key)
    template = "apikeys/_roll_dialog.html" if request.htmx else "apikeys/key_roll.html"
    return render(request, template, context)
