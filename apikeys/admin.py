import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, transaction
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy as _, ngettext

from apikeys import services
from apikeys.models import ApiKey, AuditEvent, Status
from config.http import client_ip, no_store
from projects import catalog
from projects.admin import limit_to_projects
from projects.models import Project


logger = logging.getLogger(__name__)

# Keys and their audit trail are seen with what lists keys in the console;
# revoking and adding need the API Key Creation Permission (see projects/admin.py
# for how the admin keeps other projects' records out).
SEE_KEYS = (catalog.CREATE_API_KEYS, catalog.READ_API_KEYS)


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Status.choices

    def queryset(self, request, queryset):
        if self.value() in Status.values:
            return queryset.with_status(self.value())
        return queryset


class AdminApiKeyCreateForm(forms.Form):
    """The admin's way in: validated here, created by the service like everywhere else."""

    project = forms.ModelChoiceField(label=_("Project"), queryset=Project.objects.all())
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(
        label=_("Description"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    tags = forms.CharField(
        label=_("Tags"), max_length=400, required=False, help_text=_("Comma-separated short labels.")
    )
    expires_at = forms.DateTimeField(
        label=_("Expires at"),
        required=False,
    )
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"),
        choices=[
            (p.codename, format_lazy("{}: {} ({})", p.group, p.display_label, p.codename)) for p in catalog.CATALOG
        ],
        widget=forms.CheckboxSelectMultiple,
    )
    ticket = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Other projects are neither named in the choices nor accepted on POST
        # (the service would refuse them too).
        self.fields["project"].queryset = limit_to_projects(
            Project.objects.all(), user, catalog.CREATE_API_KEYS, field="pk"
        )
        # The date is read in the site's time zone: say which.
        self.fields["expires_at"].help_text = gettext(
            "Optional, for example 2030-01-31 00:00, in the time zone %(zone)s. At most 100 years from now. "
            "Leave empty for no expiry."
        ) % {"zone": timezone.get_current_timezone_name()}


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "masked_key", "status_display", "expires_at", "last_used_at", "created_by", "created_at"]
    # Only projects with visible keys: the filter names no other project.
    list_filter = [StatusFilter, ("project", admin.RelatedOnlyFieldListFilter)]
    # Searched by get_search_results; listed here so the admin shows the box.
    search_fields = ["name", "tags", "public_id"]
    search_help_text = _("Name or tag, as in the console, or a key's exact public ID.")
    list_select_related = ["project", "created_by"]
    actions = ["revoke_selected"]
    fields = [
        "public_id", "masked_key", "project", "name", "description", "tags", "permission_list",
        "expires_at", "status_display", "created_at", "created_by", "created_by_key", "last_used_at",
        "revoked_at", "revoked_by", "revoked_by_key", "pepper_version",
    ]

    def get_queryset(self, request):
        return limit_to_projects(super().get_queryset(request), request.user, *SEE_KEYS)

    def get_search_results(self, request, queryset, search_term):
        # The console's search (ApiKeyQuerySet.search): tags are matched in
        # their JSON text, so only text a tag can hold may reach them, or `"`
        # would match every key. Django's own search would also read a lone
        # `"` as an empty phrase that matches everything.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.search(term) | queryset.filter(public_id=term), False

    def get_readonly_fields(self, request, obj=None):
        # Every field: a key is what it was created as.
        return self.fields

    @admin.display(description=_("Key"))
    def masked_key(self, obj: ApiKey) -> str:
        return obj.masked

    @admin.display(description=_("Status"))
    def status_display(self, obj: ApiKey) -> str:
        return obj.status().label

    @admin.display(description=_("Permissions"))
    def permission_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.permissions)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # keys are revoked, never deleted (audit)

    def save_model(self, request, obj, form, change):
        raise PermissionDenied(gettext("API keys cannot be edited."))

    # -- adding goes through the service and shows the secret once ----------
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        status = 200
        if request.method == "POST":
            form = AdminApiKeyCreateForm(request.POST, user=request.user)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    created = services.api_key_create(
                        project=data["project"],
                        name=data["name"],
                        description=data["description"],
                        tags=data["tags"],
                        permissions=data["permissions"],
                        expires_at=data["expires_at"],
                        created_by=request.user,
                        ip_address=client_ip(request),
                        ticket=data["ticket"],
                    )
                except services.ApiKeyError as error:
                    form.add_error(error.field if error.field in form.fields else None, error.message)
                except (DatabaseError, InterfaceError):  # rolled back: nothing saved
                    logger.exception("Creating an API key in the admin failed in the database; nothing was saved.")
                    form.add_error(None, services.TEMPORARY_FAILURE)
                    status = 503
                else:
                    context = {
                        **self.admin_site.each_context(request),
                        "opts": self.opts,
                        "title": gettext("API key created"),
                        "api_key": created.api_key,
                        "secret": created.secret,
                    }
                    return no_store(
                        TemplateResponse(request, "admin/apikeys/apikey/secret.html", context, status=201).render()
                    )
        else:
            form = AdminApiKeyCreateForm(
                initial={"ticket": services.issue_ticket(user=request.user)}, user=request.user
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Add API key"),
            "form": form,
            "creation_disabled_reason": services.creation_disabled_reason(),
        }
        return no_store(TemplateResponse(request, "admin/apikeys/apikey/add.html", context, status=status).render())

    # -- revoke with a confirmation step ------------------------------------
    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke_selected(self, request, queryset):
        # The queryset holds only keys the user may see; seeing is not revoking.
        selected = list(queryset.select_related("project"))
        keys = [key for key in selected if request.user.has_perm(f"projects.{catalog.CREATE_API_KEYS}", key.project)]
        if left_out := len(selected) - len(keys):
            message = ngettext(
                "%(count)s selected API key was left out: revoking needs the API Key Creation Permission in its project.",
                "%(count)s selected API keys were left out: revoking needs the API Key Creation Permission in their project.",
                left_out,
            ) % {"count": left_out}
            self.message_user(request, message, messages.WARNING)
        if not keys:
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": gettext("Revoke API keys?"),
                "keys": keys,
                "active_keys": [k for k in keys if not k.is_revoked],
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/apikeys/apikey/revoke_confirmation.html", context)
        with transaction.atomic():  # all selected keys, or none
            # Each revocation locks its project's row: always in the same
            # order, so two admins revoking across projects cannot deadlock.
            revoked = sum(
                services.api_key_revoke(api_key=key, revoked_by=request.user, ip_address=client_ip(request))
                for key in sorted(keys, key=lambda key: (key.project_id, key.pk))
            )
        self.message_user(request, gettext("Revoked %(count)s API key(s).") % {"count": revoked}, messages.SUCCESS)
        return None


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "action", "project", "api_key", "actor_label", "ip_address"]
    list_filter = ["action", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["api_key__name", "api_key__public_id", "actor_label"]
    list_select_related = ["project", "api_key"]
    date_hierarchy = "at"

    def get_queryset(self, request):
        # Events carry addresses and names: only of keys the user may see.
        return limit_to_projects(super().get_queryset(request), request.user, *SEE_KEYS)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

