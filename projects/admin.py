from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from projects.models import Membership, Project, Role, catalog_permissions


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["name", "permission_count"]
    search_fields = ["name"]
    filter_horizontal = ["permissions"]

    @admin.display(description=_("Permissions"))
    def permission_count(self, role: Role) -> int:
        return role.permissions.count()

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "permissions":
            # Only the provider's catalog, never Django's add/change/delete ones.
            kwargs["queryset"] = catalog_permissions().order_by("codename")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("permissions")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["project", "role"]
    search_fields = ["user__username", "project__name", "project__slug"]
    autocomplete_fields = ["user", "project"]
    list_select_related = ["user", "project", "role"]
