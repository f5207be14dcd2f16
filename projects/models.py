from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import models

from projects import catalog


class Project(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # The catalog is the one place these are defined; Django creates the
        # Permission rows from here.
        permissions = [(p.codename, p.label) for p in catalog.CATALOG]

    def __str__(self) -> str:
        return self.name


def catalog_permissions():
    """Permission rows of the catalog (and nothing else of the projects app)."""
    return Permission.objects.filter(content_type__app_label="projects", codename__in=catalog.CODENAMES)


class Role(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    permissions = models.ManyToManyField(
        Permission,
        blank=True,
        related_name="project_roles",
        limit_choices_to={"content_type__app_label": "projects", "codename__in": sorted(catalog.CODENAMES)},
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user_and_project"),
        ]
        ordering = ["project", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"
