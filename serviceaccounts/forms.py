"""The console's forms for service accounts; the rules they check again are serviceaccounts.services'."""

from django import forms
from django.utils.translation import gettext_lazy as _

from apikeys import addresses, schema
from apikeys.forms import (
    ErrorSummaryForm,
    ExpiryForm,
    PermissionMatrix,
    allowed_ips_field,
    by_schema,
    permissions_field,
)


class ServiceAccountForm(ErrorSummaryForm):
    """Create, rename or describe a service account."""

    summary_order = ("name", "description")

    name = forms.CharField(
        label=_("Name"),
        max_length=schema.NAME_MAX_LENGTH,
        strip=True,
        error_messages={"required": _("Enter a name for the service account.")},
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=schema.DESCRIPTION_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_name(self) -> str:
        return by_schema(schema.clean_name, self.cleaned_data["name"])

    def clean_description(self) -> str:
        return by_schema(schema.clean_description, self.cleaned_data["description"])


class MembershipForm(PermissionMatrix, ErrorSummaryForm):
    """A service account's permissions in one project, with the keys' permission matrix."""

    summary_order = ("permissions",)

    permissions = permissions_field()

    def __init__(self, *args, grantable: frozenset[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.grantable = grantable


class CredentialCreateForm(ExpiryForm):
    """A new credential: its name, expiry and allowed addresses; the secret is shown once."""

    summary_order = ("name", "expiration", "expires_on", "allowed_ips")

    name = forms.CharField(
        label=_("Name"),
        max_length=schema.NAME_MAX_LENGTH,
        strip=True,
        error_messages={"required": _("Enter a name for the credential.")},
    )
    allowed_ips = allowed_ips_field()
    ticket = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_name(self) -> str:
        return by_schema(schema.clean_name, self.cleaned_data["name"])

    def clean_allowed_ips(self) -> list[str]:
        return by_schema(addresses.clean_allowed_ips, self.cleaned_data["allowed_ips"])


class MoveForm(ErrorSummaryForm):
    """Confirming "Move to a service account": the new account's name, the key's by default."""

    summary_order = ("name",)

    name = ServiceAccountForm.base_fields["name"]
    ticket = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_name(self) -> str:
        return by_schema(schema.clean_name, self.cleaned_data["name"])
