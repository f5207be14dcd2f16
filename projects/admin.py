from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from projects import catalog
from projects.models import (
    Membership,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    Project,
    Role,
    catalog_permissions,
)

# Staff reach a project's records in the admin only where their role in that
# project lets them, as in the console: Django's model permissions open the
# admin, project permissions (projects/backends.py) choose the records.
# Superusers see everything. Records outside are treated as missing: absent
# from lists, searches, filters and autocompletes, and their pages answer
# like a missing object's.
ADMINISTER = "can_become_administrator_in_project"
MANAGE_MEMBERS = "can_crud_permissions_in_project"
DELETE_PROJECT = "can_delete_project_in_project"


def limit_to_projects(queryset, user, *codenames: str, field: str = "project"):
    """`queryset` without the rows of projects where `user` holds none of `codenames`.

    `field` leads from a row to its project ("pk" for projects themselves).
    The backend answers for each of the user's projects (only a membership
    grants project permissions), so the rule stays in one place.
    """
    if user.is_superuser:
        return queryset
    allowed = [
        project.pk
        for project in Project.objects.filter(memberships__user=user)
        if any(user.has_perm(catalog.perm(codename), project) for codename in codenames)
    ]
    return queryset.filter(**{f"{field}__in": allowed})


def may(request, codename: str, project: Project | None) -> bool:
    """Object-level gate for has_*_permission(request, obj): True without an object (Django asks that first)."""
    return project is None or request.user.has_perm(catalog.perm(codename), project)


# Organization-owned records (SPEC §8) are reached the same way, by the
# flags of the user's organization role: Admins and Owners see them
# (MANAGES_SERVICE_ACCOUNTS), only Owners change the organization and its
# members (MANAGES_ORGANIZATION). The rules read the flags, never a role's name.
MANAGES_ORGANIZATION = "manages_organization"
MANAGES_SERVICE_ACCOUNTS = "manages_service_accounts"


def organizations_where(user, flag: str):
    """The organizations where `user`'s organization role has `flag` (superusers: all)."""
    if user.is_superuser:
        return Organization.objects.all()
    # One filter() call: the user and the flag are of the same membership.
    return Organization.objects.filter(memberships__user=user, **{f"memberships__role__{flag}": True})


def limit_to_organizations(queryset, user, flag: str = MANAGES_SERVICE_ACCOUNTS, field: str = "organization"):
    """`queryset` without the rows of organizations where `user`'s role lacks `flag`.

    `field` leads from a row to its organization ("pk" for organizations themselves).
    """
    if user.is_superuser:
        return queryset
    return queryset.filter(**{f"{field}__in": organizations_where(user, flag).values("pk")})


def may_in_organization(request, flag: str, organization: Organization | None) -> bool:
    """Like may(), for an organization role's flag."""
    return organization is None or organizations_where(request.user, flag).filter(pk=organization.pk).exists()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]

    # `obj` is the project: its members are managed by whoever may manage
    # members in it, like on the membership pages.
    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and may(request, MANAGE_MEMBERS, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and may(request, MANAGE_MEMBERS, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and may(request, MANAGE_MEMBERS, obj)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "organization", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    list_select_related = ["organization"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # A project's service-account members belong to its organization: it stays where it was made.
        return [*self.readonly_fields, "organization"] if obj is not None else self.readonly_fields

    def get_queryset(self, request):
        # Also what the membership form's project autocomplete offers.
        return limit_to_projects(super().get_queryset(request), request.user, catalog.READ_PROJECT, field="pk")

    def has_add_permission(self, request):
        # A new project has no members yet, so no project role could cover
        # it (and its creator could not even see it afterwards).
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and may(request, ADMINISTER, obj)

    def has_delete_permission(self, request, obj=None):
        # Also asked per project by the delete_selected action.
        return super().has_delete_permission(request, obj) and may(request, DELETE_PROJECT, obj)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """Roles are global data: one Administrator role serves every project.

    No project permission covers a role, so Django's model permissions alone
    decide who may change one, and a change reaches every project.
    """

    list_display = ["display_name", "permission_count"]
    search_fields = ["name"]
    filter_horizontal = ["permissions"]

    # The default roles in the reader's language, like everywhere else.
    @admin.display(description=_("name"), ordering="name")
    def display_name(self, role: Role) -> str:
        return role.display_name

    @admin.display(description=_("Permissions"))
    def permission_count(self, role: Role) -> int:
        return role.permissions.count()

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "permissions":
            # Only the provider's catalog, never Django's add/change/delete ones.
            kwargs["queryset"] = catalog_permissions().order_by("codename")
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "permissions":
            # Named as the key's add form names them, in the reader's language.
            formfield.label_from_instance = permission_label
        return formfield

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("permissions")


def permission_label(permission) -> str:
    """ "Project: View the project (can_read_project_in_project)", not Django's "Projects | project | …" in English."""
    entry = catalog.BY_CODENAME.get(permission.codename)
    if entry is None:
        return str(permission)
    return f"{entry.group}: {entry.display_label} ({entry.codename})"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    # Only projects with visible memberships: the filter names no other project.
    list_filter = [("project", admin.RelatedOnlyFieldListFilter), "role"]
    search_fields = ["user__username", "project__name", "project__slug"]
    autocomplete_fields = ["user", "project"]
    list_select_related = ["user", "project", "role"]

    def get_queryset(self, request):
        return limit_to_projects(super().get_queryset(request), request.user, MANAGE_MEMBERS)

    # Per membership too: deleting a project asks about each membership it takes along.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and may(request, MANAGE_MEMBERS, obj and obj.project)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and may(request, MANAGE_MEMBERS, obj and obj.project)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project":
            # Refuses, on POST, a project whose members the user may not manage.
            kwargs["queryset"] = limit_to_projects(Project.objects.all(), request.user, MANAGE_MEMBERS, field="pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# -- organizations ---------------------------------------------------------------------------------


@admin.register(OrganizationRole)
class OrganizationRoleAdmin(admin.ModelAdmin):
    """Organization roles are global data, like project roles: Django's model permissions alone decide."""

    list_display = ["display_name", "manages_organization", "manages_service_accounts"]
    search_fields = ["name"]

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, role: OrganizationRole) -> str:
        return role.display_name


class OrganizationMembershipInline(admin.TabularInline):
    model = OrganizationMembership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]

    # `obj` is the organization: its members (Owners included) are the Owners' business.
    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and may_in_organization(request, MANAGES_ORGANIZATION, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and may_in_organization(request, MANAGES_ORGANIZATION, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and may_in_organization(request, MANAGES_ORGANIZATION, obj)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [OrganizationMembershipInline]

    def get_queryset(self, request):
        return limit_to_organizations(super().get_queryset(request), request.user, field="pk")

    # A new organization has no Owners yet, and superusers appoint them.
    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and may_in_organization(request, MANAGES_ORGANIZATION, obj)

    def has_delete_permission(self, request, obj=None):
        # It owns projects, service accounts and their audit trail (all protected):
        # ending one is an operator's decision, as starting one is.
        return request.user.is_superuser


@admin.register(OrganizationMembership)
class OrganizationMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role_name", "created_at"]
    # Only organizations with visible memberships: the filter names no other organization.
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "role"]
    search_fields = ["user__username", "organization__name", "organization__slug"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "organization", "role"]

    @admin.display(description=_("role"), ordering="role__name")
    def role_name(self, membership: OrganizationMembership) -> str:
        return membership.role.display_name

    def get_queryset(self, request):
        # Admins see who is who; only Owners (below) change it.
        return limit_to_organizations(super().get_queryset(request), request.user)

    def get_readonly_fields(self, request, obj=None):
        # A membership is one user in one organization: only its role changes.
        return ["created_at"] if obj is None else ["organization", "user", "created_at"]

    # Appointing or changing anyone, an Owner included, is for the
    # organization's Owners (and superusers); an Admin never makes an Owner.
    def has_add_permission(self, request):
        return super().has_add_permission(request) and organizations_where(request.user, MANAGES_ORGANIZATION).exists()

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and may_in_organization(
            request, MANAGES_ORGANIZATION, obj and obj.organization
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and may_in_organization(
            request, MANAGES_ORGANIZATION, obj and obj.organization
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organization":
            # Refuses, on POST, an organization the user is not an Owner of.
            kwargs["queryset"] = organizations_where(request.user, MANAGES_ORGANIZATION)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
