from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apikeys import schema, services
from apikeys.errors import ApiKeyError, http_status
from apikeys.models import Status
from projects import catalog

QUICK_EXPIRY_DAYS = (30, 90, 365)


def _by_schema(rule, value):
    """A schema rule as a form field's cleaning: its ApiKeyError becomes the field's error."""
    try:
        return rule(value)
    except ApiKeyError as error:
        raise forms.ValidationError(error.message) from None


# Service fields that a form names differently.
_FORM_FIELD = {"expires_at": "expires_on"}


class KeyValuesForm(forms.Form):
    """The values of a new key as both create forms take them (console, admin).

    Limits and rules come from apikeys.schema, which the API uses too; the
    service checks them again, with what the creator may grant.
    """

    name = forms.CharField(label=_("Name"), max_length=schema.NAME_MAX_LENGTH, strip=True)
    description = forms.CharField(
        label=_("Description"),
        max_length=schema.DESCRIPTION_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    tags = forms.CharField(label=_("Tags"), max_length=schema.TAGS_TEXT_MAX_LENGTH, required=False)
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"),
        choices=[(p.codename, p.display_label) for p in catalog.CATALOG],
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one permission."),
            "invalid_choice": _("%(value)s is not a permission of this cloud."),
        },
    )
    ticket = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_name(self) -> str:
        return _by_schema(schema.clean_name, self.cleaned_data["name"])

    def clean_description(self) -> str:
        return _by_schema(schema.clean_description, self.cleaned_data["description"])

    def clean_tags(self) -> list[str]:
        return _by_schema(schema.clean_tags, self.cleaned_data["tags"])

    def create_key(self, *, project, user, ip_address: str | None) -> services.CreatedKey | None:
        """Create the key through the service, or show its refusal on the form.

        After a refusal, `refusal` holds the error and `status` the page's
        status: 200 like any form with errors, except a server-side failure
        (the database), which keeps its 5xx from the one map.
        """
        data = self.cleaned_data
        try:
            return services.api_key_create(
                project=project,
                name=data["name"],
                description=data["description"],
                tags=data["tags"],
                permissions=data["permissions"],
                expires_at=data["expires_at"],
                created_by=user,
                ip_address=ip_address,
                ticket=data["ticket"],
            )
        except ApiKeyError as error:
            field = error.field if error.field in self.fields else _FORM_FIELD.get(error.field)
            self.add_error(field if field in self.fields else None, error.message)
            self.refusal = error
            self.status = http_status(error) if http_status(error) >= 500 else 200
            return None


class ApiKeyCreateForm(KeyValuesForm):
    """The console's create form: the values, and the expiry as a choice of lifetimes or a date."""

    expiration = forms.ChoiceField(label=_("Expiration"), widget=forms.RadioSelect)
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, grantable: frozenset[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.grantable = grantable
        self.fields["tags"].help_text = _("Comma-separated short labels, for example: ci, production.")
        # Offer only what the lifetime policy allows: a cap of 60 days offers
        # 30 days and 60 days, never 90 or 365.
        cap = settings.API_KEY_MAX_LIFETIME_DAYS
        quick = [days for days in QUICK_EXPIRY_DAYS if not cap or days <= cap]
        choices = [(str(days), ngettext("%(days)s day", "%(days)s days", days) % {"days": days}) for days in quick]
        if cap and cap not in quick:
            choices.append(
                (
                    str(cap),
                    ngettext("%(days)s day (the longest allowed)", "%(days)s days (the longest allowed)", cap)
                    % {"days": cap},
                )
            )
        choices.append(("custom", _("On a date")))
        if not (settings.API_KEY_REQUIRE_EXPIRY or cap):
            choices.append(("never", _("Never")))
        self.fields["expiration"].choices = choices
        self.fields["expiration"].initial = (
            "90" if "90" in dict(choices) else choices[len(quick) - 1 if quick else 0][0]
        )
        # The date picker's range (the service checks the date itself).
        today = timezone.localdate()
        self.expires_on_min = today
        self.expires_on_max = today + (timedelta(days=cap) if cap else schema.MAX_EXPIRY - timedelta(days=1))
        self.time_zone_name = timezone.get_current_timezone_name()

    def clean_permissions(self) -> list[str]:
        chosen = self.cleaned_data["permissions"]
        # The page only offers what the user holds; a forged post gets told.
        if refused := [code for code in chosen if code not in self.grantable]:
            raise forms.ValidationError(
                _("You cannot grant permissions you do not hold in this project: %(codes)s."),
                params={"codes": ", ".join(refused)},
            )
        return chosen

    def clean(self):
        data = super().clean()
        choice = data.get("expiration")
        now = timezone.now()
        if choice == "never":
            data["expires_at"] = None
        elif choice == "custom":
            day = data.get("expires_on")
            if day is None:
                self.add_error("expires_on", _("Pick the date on which the key expires."))
            else:
                data["expires_at"] = datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())
        elif choice:
            data["expires_at"] = now + timedelta(days=int(choice))
        return data

    def permission_groups(self):
        """(group, [(entry, checked)]) for the grantable permissions, in catalog order."""
        checked = set(self["permissions"].value() or ())
        return [
            (group, [(entry, entry.codename in checked) for entry in entries])
            for group, entries in catalog.grouped(self.grantable)
        ]


class KeyFilterForm(forms.Form):
    STATUS_CHOICES = [("", _("All statuses")), *Status.choices]

    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    q = forms.CharField(max_length=100, required=False, label=_("Search"))
