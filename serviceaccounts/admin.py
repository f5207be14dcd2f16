"""Service accounts, their credentials and their audit trail in the admin (SPEC §8).

Staff reach them only in the organizations where their organization role
manages service accounts (Admin or Owner); superusers everywhere. Records of
other organizations are treated as missing, as for projects (see
projects/admin.py). Every page is read-only: accounts are created and changed
in the console and the API, and the actions here (disable, enable, delete,
revoke) go through serviceaccounts.services like theirs, so the same rules
decide and every change is audited. Nothing is ever deleted (deletion is soft
and final), and no secret hash or pepper is shown.
"""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apikeys.errors import ApiKeyError
from apikeys.models import Status
from config.http import client_ip
from projects import catalog
from projects.admin import limit_to_organizations
from projects.models import OrganizationRole
from serviceaccounts import services
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent, ServiceAccountMembership

STATES = {"active": _("Active"), "disabled": _("Disabled"), "deleted": _("Deleted")}


def actor(request) -> services.Actor:
    return services.Actor(user=request.user, ip_address=client_ip(request))


def report(model_admin, request, done: int, refusals: list[tuple[object, ApiKeyError]], success: str) -> None:
    """One success message with the count, and one error message per refused object."""
    if done:
        model_admin.message_user(request, success, messages.SUCCESS)
    elif not refusals:
        model_admin.message_user(request, gettext("Nothing needed changing."), messages.INFO)
    for obj, error in refusals:
        model_admin.message_user(
            request,
            gettext("“%(object)s”: %(reason)s") % {"object": obj, "reason": error.message},
            messages.ERROR,
        )


def confirmed(model_admin, request, items, *, action: str, question: str, confirm_label: str):
    """None once the user confirmed (POST confirm=yes), else the confirmation page listing `items`."""
    if request.POST.get("confirm") == "yes":
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": question,
        "question": question,
        "items": items,
        "action": action,
        "confirm_label": confirm_label,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/serviceaccounts/confirm_action.html", context)


class ReadOnly:
    """Seen, never added, changed or deleted here; the actions use has_manage_permission."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_manage_permission(self, request) -> bool:
        # Django's change permission of the model opens the actions; the
        # service decides for each object.
        return admin.ModelAdmin.has_change_permission(self, request)


# -- service accounts ------------------------------------------------------------------------------


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return list(STATES.items())

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(deleted_at__isnull=True, disabled_at__isnull=True)
        if self.value() == "disabled":
            return queryset.filter(deleted_at__isnull=True, disabled_at__isnull=False)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class ServiceAccountMembershipInline(ReadOnly, admin.TabularInline):
    model = ServiceAccountMembership
    extra = 0
    fields = ["project", "permission_list", "created_at", "updated_at"]
    readonly_fields = fields

    @admin.display(description=_("Permissions"))
    def permission_list(self, membership: ServiceAccountMembership) -> str:
        return ", ".join(membership.permissions) or "—"


class CredentialInline(ReadOnly, admin.TabularInline):
    model = Credential
    extra = 0
    fields = ["name", "masked_key", "status_display", "expires_at", "last_used_at", "created_at"]
    readonly_fields = fields
    show_change_link = True  # where it is revoked

    @admin.display(description=_("Key"))
    def masked_key(self, credential: Credential) -> str:
        return credential.masked

    @admin.display(description=_("Status"))
    def status_display(self, credential: Credential) -> str:
        return credential.status().label


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["name", "organization", "state_display", "role_display", "created_at"]
    # Only organizations with visible service accounts: the filter names no other one.
    list_filter = [StateFilter, ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "public_id"]
    list_select_related = ["organization", "organization_role"]
    actions = ["disable_selected", "enable_selected", "give_admin_role", "take_role", "delete_selected_softly"]
    fields = [
        "public_id",
        "organization",
        "name",
        "description",
        "role_display",
        "state_display",
        "created_at",
        "created_by",
        "created_by_credential",
        "disabled_at",
        "deleted_at",
    ]
    readonly_fields = fields
    inlines = [ServiceAccountMembershipInline, CredentialInline]

    @admin.display(description=_("state"))
    def state_display(self, account: ServiceAccount) -> str:
        return STATES[account.state]

    @admin.display(description=_("organization role"), ordering="organization_role__name")
    def role_display(self, account: ServiceAccount) -> str:
        return account.organization_role.display_name if account.organization_role_id else "—"

    def get_queryset(self, request):
        return limit_to_organizations(super().get_queryset(request), request.user)

    def _each(self, request, queryset, change):
        """Apply `change(account)` through the service; (changed count, refusals)."""
        done, refusals = 0, []
        for account in queryset.order_by("organization_id", "pk"):
            try:
                done += change(account)
            except ApiKeyError as error:
                refusals.append((account, error))
        return done, refusals

    def _set_disabled(self, request, queryset, disabled: bool):
        """(accounts whose state changed, refusals)."""

        def change(account):
            before = account.disabled_at is not None
            return before != (services.set_disabled(account, disabled, actor=actor(request)).disabled_at is not None)

        return self._each(request, queryset, change)

    @admin.action(description=_("Disable"), permissions=["manage"])
    def disable_selected(self, request, queryset):
        done, refusals = self._set_disabled(request, queryset, True)
        success = ngettext("Disabled %(count)s service account.", "Disabled %(count)s service accounts.", done) % {
            "count": done
        }
        report(self, request, done, refusals, success)

    @admin.action(description=_("Enable"), permissions=["manage"])
    def enable_selected(self, request, queryset):
        done, refusals = self._set_disabled(request, queryset, False)
        success = ngettext("Enabled %(count)s service account.", "Enabled %(count)s service accounts.", done) % {
            "count": done
        }
        report(self, request, done, refusals, success)

    @admin.action(description=_("Give the organization role Admin"), permissions=["manage"])
    def give_admin_role(self, request, queryset):
        """An Owner lets automation manage the organization's service accounts (SPEC §8)."""
        role = OrganizationRole.objects.filter(name=catalog.ADMIN).first()
        done, refusals = self._set_role(request, queryset, role)
        success = ngettext(
            "%(count)s service account now holds the organization role Admin.",
            "%(count)s service accounts now hold the organization role Admin.",
            done,
        ) % {"count": done}
        report(self, request, done, refusals, success)

    @admin.action(description=_("Take the organization role away"), permissions=["manage"])
    def take_role(self, request, queryset):
        done, refusals = self._set_role(request, queryset, None)
        success = ngettext(
            "%(count)s service account no longer holds an organization role.",
            "%(count)s service accounts no longer hold an organization role.",
            done,
        ) % {"count": done}
        report(self, request, done, refusals, success)

    def _set_role(self, request, queryset, role):
        def change(account):
            before = account.organization_role_id
            updated = services.update_service_account(account, organization_role=role, actor=actor(request))
            return before != updated.organization_role_id

        return self._each(request, queryset, change)

    @admin.action(description=_("Delete (soft, final)"), permissions=["manage"])
    def delete_selected_softly(self, request, queryset):
        undeleted = list(queryset.filter(deleted_at__isnull=True).select_related("organization"))
        if not undeleted:
            return report(self, request, 0, [], "")
        page = confirmed(
            self,
            request,
            undeleted,
            action="delete_selected_softly",
            question=gettext(
                "Delete these service accounts? Their credentials are revoked and stop working at once. "
                "This cannot be undone."
            ),
            confirm_label=gettext("Yes, delete service accounts"),
        )
        if page is not None:
            return page

        def delete(account):
            services.delete_service_account(account, actor=actor(request))
            return True

        done, refusals = self._each(request, queryset, delete)
        success = ngettext(
            "Deleted %(count)s service account; its credentials are revoked.",
            "Deleted %(count)s service accounts; their credentials are revoked.",
            done,
        ) % {"count": done}
        report(self, request, done, refusals, success)


# -- credentials -----------------------------------------------------------------------------------


class CredentialStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(s.value, s.label) for s in (Status.ACTIVE, Status.EXPIRED, Status.REVOKED)]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == Status.ACTIVE:
            return queryset.active(now)
        if self.value() == Status.EXPIRED:
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == Status.REVOKED:
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(Credential)
class CredentialAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "name",
        "service_account",
        "organization",
        "masked_key",
        "status_display",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = [CredentialStatusFilter, ("service_account__organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "public_id", "service_account__name"]
    list_select_related = ["service_account__organization"]
    actions = ["revoke_selected"]
    # Never the secret hash or the pepper version.
    fields = [
        "public_id",
        "masked_key",
        "service_account",
        "organization",
        "name",
        "status_display",
        "expires_at",
        "allowed_ips_display",
        "created_at",
        "created_by",
        "created_by_credential",
        "created_by_label",
        "last_used_at",
        "last_used_ip",
        "last_used_user_agent",
        "revoked_at",
        "revoked_by",
        "revoked_by_credential",
    ]
    readonly_fields = fields

    @admin.display(description=_("organization"), ordering="service_account__organization__name")
    def organization(self, credential: Credential):
        return credential.service_account.organization

    @admin.display(description=_("Key"))
    def masked_key(self, credential: Credential) -> str:
        return credential.masked

    @admin.display(description=_("Status"))
    def status_display(self, credential: Credential) -> str:
        return credential.status().label

    @admin.display(description=_("Allowed addresses"))
    def allowed_ips_display(self, credential: Credential) -> str:
        return ", ".join(credential.allowed_ips) or gettext("any address")

    def get_queryset(self, request):
        return limit_to_organizations(
            super().get_queryset(request), request.user, field="service_account__organization"
        )

    @admin.action(description=_("Revoke"), permissions=["manage"])
    def revoke_selected(self, request, queryset):
        active = list(queryset.filter(revoked_at__isnull=True).select_related("service_account"))
        if not active:
            return report(self, request, 0, [], "")
        page = confirmed(
            self,
            request,
            active,
            action="revoke_selected",
            question=gettext(
                "Revoke these credentials? Programs using them stop working at once. This cannot be undone."
            ),
            confirm_label=gettext("Yes, revoke credentials"),
        )
        if page is not None:
            return page
        done, refusals = 0, []
        for credential in sorted(active, key=lambda credential: (credential.service_account_id, credential.pk)):
            try:
                done += services.revoke_credential(credential, actor=actor(request))
            except ApiKeyError as error:
                refusals.append((credential, error))
        success = ngettext("Revoked %(count)s credential.", "Revoked %(count)s credentials.", done) % {"count": done}
        report(self, request, done, refusals, success)


# -- audit trail -----------------------------------------------------------------------------------


@admin.register(ServiceAccountEvent)
class ServiceAccountEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["at", "action", "organization", "service_account", "credential", "project", "actor_label"]
    list_filter = ["action", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["service_account__name", "service_account__public_id", "actor_label"]
    list_select_related = ["organization", "service_account", "credential__service_account", "project"]
    date_hierarchy = "at"
    fields = [
        "at",
        "action",
        "organization",
        "service_account",
        "credential",
        "project",
        "actor_user",
        "actor_credential",
        "actor_label",
        "ip_address",
        "changes",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # Events carry names and addresses: only of organizations the user may see.
        return limit_to_organizations(super().get_queryset(request), request.user)
