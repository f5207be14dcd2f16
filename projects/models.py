from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from projects import catalog


class OrganizationRole(models.Model):
    """What a member may do in an organization (never in its projects: only project roles grant those).

    Data, like project roles: the defaults are Owner (everything about the
    organization, its Owners included), Admin (its service accounts and their
    memberships) and Member (sees the service accounts of their projects).
    The rules read the two flags, never a role's name.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    manages_organization = models.BooleanField(
        _("manages the organization"),
        default=False,
        help_text=_("Members, their roles (Owners included) and the service accounts' organization roles."),
    )
    manages_service_accounts = models.BooleanField(
        _("manages service accounts"),
        default=False,
        help_text=_("Create, change, disable and delete service accounts, their project memberships and credentials."),
    )

    class Meta:
        ordering = ["-manages_organization", "-manages_service_accounts", "name"]
        verbose_name = _("organization role")
        verbose_name_plural = _("organization roles")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return catalog.role_name(self.name)


class Organization(models.Model):
    """Owns projects and service accounts (SPEC §8)."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name


DEFAULT_ORGANIZATION_SLUG = "default"


def default_organization() -> int:
    """The organization a project gets when none is named (the one the data migration made)."""
    organization, _ = Organization.objects.get_or_create(
        slug=DEFAULT_ORGANIZATION_SLUG, defaults={"name": settings.DEFAULT_ORGANIZATION_NAME}
    )
    return organization.pk


class OrganizationMembership(models.Model):
    organization = models.ForeignKey(
        Organization, verbose_name=_("organization"), on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="organization_memberships",
    )
    role = models.ForeignKey(
        OrganizationRole, verbose_name=_("role"), on_delete=models.PROTECT, related_name="memberships"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_user_and_organization"),
        ]
        ordering = ["organization", "user__username"]
        verbose_name = _("organization membership")
        verbose_name_plural = _("organization memberships")

    def __str__(self) -> str:
        return gettext("%(user)s in %(organization)s as %(role)s") % {
            "user": self.user,
            "organization": self.organization,
            "role": self.role,
        }


class Project(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organization"),
        on_delete=models.PROTECT,
        related_name="projects",
        default=default_organization,
    )

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
