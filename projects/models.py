from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from projects import catalog


class Project(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        # The catalog is the one place these are defined; Django creates the
        # Permission rows from here.
        permissions = [(p.codename, p.label) for p in catalog.CATALOG]

    def __str__(self) -> str:
        return self.name


def catalog_permissions():
    """Permission rows of the catalog (and nothing else of the projects app)."""
    return Permission.objects.filter(content_type__app_label="projects", codename__in=catalog.CODENAMES)


class Role(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    permissions = models.ManyToManyField(
        Permission,
        verbose_name=_("permissions"),
        blank=True,
        related_name="project_roles",
        limit_choices_to={"content_type__app_label": "projects", "codename__in": sorted(catalog.CODENAMES)},
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """The name in the active language (a default role's translation; catalog.role_name)."""
        return catalog.role_name(self.name)


class Membership(models.Model):
    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.ForeignKey(Role, verbose_name=_("role"), on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user_and_project"),
        ]
        ordering = ["project", "user__username"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return gettext("%(user)s in %(project)s as %(role)s") % {
            "user": self.user,
            "project": self.project,
            "role": self.role,
        }
