from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apikeys import addresses, services
from apikeys.forms import KeyValuesForm
from apikeys.models import ApiKey, AuditEvent, CreationTicket, Status
from config.http import client_ip, no_store
from projects import catalog
from projects.admin import limit_to_projects
from projects.models import Project
from projects.templatetags.console import when

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


EXAMPLE_EXPIRY = datetime(2030, 1, 31, 0, 0)


def input_example(moment: datetime) -> str:
    """`moment` as the active language's first date-time input format without seconds writes it.

    The field reads exactly these formats ("2030-01-31 00:00" in English,
    "31.01.2030 00:00" in German), so the example is one it accepts.
    """
    pattern = next(f for f in formats.get_format("DATETIME_INPUT_FORMATS") if "%S" not in f)
    return moment.strftime(pattern)


class AdminApiKeyCreateForm(forms.ModelForm, KeyValuesForm):
    """The admin's add form (ApiKeyAdmin.add_form): the console's values and rules.

    Validating it is creating the key through the service (like the console,
    once the fields are valid): the service checks the rules again, consumes
    the form's ticket and writes in one transaction, so a refusal of the
    service is an error on this form, and save() only hands the new key to
    the admin, which logs the addition and shows the secret once
    (ApiKeyAdmin.response_add).
    """

    # One text field, as before (the admin's default is a split date and time widget).
    expires_at = forms.DateTimeField(label=_("Expires at"), required=False)
    # Set by ApiKeyAdmin.get_form for the request at hand.
    request = None

    class Meta:
        model = ApiKey
        fields = ["project", "name", "description", "tags", "expires_at", "allowed_ips", "permissions"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.created = None
        self.fields["tags"].help_text = _("Comma-separated short labels.")
        self.fields["allowed_ips"].help_text = gettext(
            "Optional. IPv4 or IPv6 addresses or CIDR ranges, one per line, at most %(max)s. Leave empty to allow "
            "any address."
        ) % {"max": addresses.MAX_ALLOWED_IPS}
        # The admin lists every permission with its group and codename.
        self.fields["permissions"].choices = [
            (p.codename, format_lazy("{}: {} ({})", p.group, p.display_label, p.codename)) for p in catalog.CATALOG
        ]
        # Other projects are neither named in the choices nor accepted on POST
        # (the service would refuse them too).
        self.fields["project"].queryset = limit_to_projects(
            Project.objects.all(), self.request.user, catalog.CREATE_API_KEYS, field="pk"
        )
        # The date is read in the site's time zone: say which, and show a date
        # written the way the field reads it in the active language.
        self.fields["expires_at"].help_text = gettext(
            "Optional, for example %(example)s, in the time zone %(zone)s. At most 100 years from now. "
            "Leave empty for no expiry."
        ) % {"example": input_example(EXAMPLE_EXPIRY), "zone": timezone.get_current_timezone_name()}

    def _post_clean(self):
        # No model validation of an unsaved copy: the service is the validation.
        if not self.errors:
            self.created = self.create_key(
                project=self.cleaned_data["project"], user=self.request.user, ip_address=client_ip(self.request)
            )

    def save(self, commit=True):
        self.save_m2m = lambda: None  # nothing more to save
        self.created.api_key.secret = self.created.secret  # for response_add, in memory only
        return self.created.api_key


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "project",
        "masked_key",
        "status_display",
        "expires_at",
        "last_used_at",
        "created_by",
        "created_at",
    ]
    # Only projects with visible keys: the filter names no other project.
    list_filter = [StatusFilter, ("project", admin.RelatedOnlyFieldListFilter)]
    # Searched by get_search_results; listed here so the admin shows the box.
    search_fields = ["name", "tags", "public_id"]
    search_help_text = _("Name or tag, as in the console, or a key's exact public ID.")
    list_select_related = ["project", "created_by"]
    actions = ["revoke_selected"]
    fields = [
        "public_id",
        "masked_key",
        "project",
        "name",
        "description",
        "tags",
        "permission_list",
        "expires_at",
        "allowed_ips_display",
        "status_display",
        "created_at",
        "created_by",
        "created_by_key",
        "last_used_at",
        "last_used_ip",
        "last_used_user_agent",
        "permission_usage",
        "refused_permissions",
        "revoked_at",
        "revoked_by",
        "revoked_by_key",
        "retires_at",
        "successor",
        "parent",
        "expiry_warnings",
        "pepper_version",
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

    @admin.display(description=_("Key"))
    def masked_key(self, obj: ApiKey) -> str:
        return obj.masked

    @admin.display(description=_("Status"))
    def status_display(self, obj: ApiKey) -> str:
        return obj.status().label

    @admin.display(description=_("Permissions"))
    def permission_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.permissions)

    @admin.display(description=_("Allowed addresses"))
    def allowed_ips_display(self, obj: ApiKey) -> str:
        return ", ".join(obj.allowed_ips) or gettext("any address")

    @admin.display(description=_("Permissions last needed"))
    def permission_usage(self, obj: ApiKey) -> str:
        return "; ".join(
            f"{code}: {when(needed) if needed else gettext('never checked through us')}"
            for code, needed in obj.last_needed().items()
        )

    @admin.display(description=_("Permissions asked for, not held"))
    def refused_permissions(self, obj: ApiKey) -> str:
        return "; ".join(f"{code}: {when(refused)}" for code, refused in obj.refused_permissions()) or "—"

    @admin.display(description=_("Expiry warnings sent"))
    def expiry_warnings(self, obj: ApiKey) -> str:
        """Who was mailed when about this key's expiry (manage.py notify_expiring_keys)."""
        notices = obj.expiry_notices.select_related("recipient").order_by("sent_at", "pk")
        return "; ".join(
            ngettext(
                "%(days)s day before, to %(user)s, %(when)s",
                "%(days)s days before, to %(user)s, %(when)s",
                n.threshold_days,
            )
            % {"days": n.threshold_days, "user": n.recipient.get_username(), "when": when(n.sent_at)}
            for n in notices
        ) or gettext("none")

    # A key is what it was created as: its page is Django's view-only page
    # (no Save buttons), and revoking is the list's action, allowed by the
    # model's change permission (and, per key, its project's permission).
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # keys are revoked, never deleted (audit)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        key = self.get_object(request, unquote(object_id))
        context = {
            **(extra_context or {}),
            # The page offers the action the list has, for this key.
            "can_revoke": key is not None
            and not key.is_revoked
            and self.has_revoke_permission(request)
            and request.user.has_perm(catalog.perm(catalog.CREATE_API_KEYS), key.project),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return super().change_view(request, object_id, form_url, context)

    # -- adding: Django's add view with add_form, the service behind it -----
    add_form = AdminApiKeyCreateForm
    add_form_template = "admin/apikeys/apikey/add.html"
    add_fields = ["project", "name", "description", "tags", "expires_at", "allowed_ips", "permissions", "ticket"]

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        # Every field of an existing key: a key is what it was created as.
        return [] if obj is None else self.fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = type("AddForm", (self.add_form,), {"request": request})
        return super().get_form(request, obj, **kwargs)

    def get_changeform_initial_data(self, request):
        return {
            **super().get_changeform_initial_data(request),
            "ticket": CreationTicket.objects.issue(user=request.user),
        }

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied(gettext("API keys cannot be edited."))
        # Added: the service saved it while validating the form.

    def add_view(self, request, form_url="", extra_context=None):
        context = {
            **(extra_context or {}),
            "creation_disabled_reason": services.creation_disabled_reason(),
            # The next page is always the secret's.
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
        }
        return no_store(super().add_view(request, form_url, context))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        response = super().render_change_form(request, context, add, change, form_url, obj)
        form = context["adminform"].form
        if add and getattr(form, "refusal", None) is not None:
            response.status_code = form.status  # a failed database keeps its 503
        return response

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("API key created"),
            "api_key": obj,
            "secret": obj.secret,
        }
        return TemplateResponse(request, "admin/apikeys/apikey/secret.html", context, status=201)

    # -- revoke with a confirmation step ------------------------------------
    @admin.action(description=_("Revoke selected API keys"), permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        # The queryset holds only keys the user may see; seeing is not revoking.
        selected = list(queryset.select_related("project"))
        keys = [key for key in selected if request.user.has_perm(catalog.perm(catalog.CREATE_API_KEYS), key.project)]
        if left_out := len(selected) - len(keys):
            message = ngettext(
                "%(count)s selected API key was left out: "
                "revoking needs the API Key Creation Permission in its project.",
                "%(count)s selected API keys were left out: "
                "revoking needs the API Key Creation Permission in their project.",
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
        message = ngettext("Revoked %(count)s API key.", "Revoked %(count)s API keys.", revoked) % {"count": revoked}
        self.message_user(request, message, messages.SUCCESS)
        return None


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "action", "project", "api_key", "actor", "ip_address"]
    list_filter = ["action", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["api_key__name", "api_key__public_id", "actor_label"]
    list_select_related = ["project", "api_key", "actor_key"]
    date_hierarchy = "at"

    # The recorded label, but a key that acted is named in the reader's language.
    @admin.display(description=AuditEvent._meta.get_field("actor_label").verbose_name, ordering="actor_label")
    def actor(self, event: AuditEvent) -> str:
        return event.actor

    def get_queryset(self, request):
        # Events carry addresses and names: only of keys the user may see.
        return limit_to_projects(super().get_queryset(request), request.user, *SEE_KEYS)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
