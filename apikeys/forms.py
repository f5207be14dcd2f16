import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from apikeys import addresses, schema, services
from apikeys.errors import ApiKeyError, http_status
from projects import catalog
from projects.templatetags.console import when, when_format

QUICK_EXPIRY_DAYS = (30, 90, 365)
# The allowed addresses as typed: room for the longest MAX_ALLOWED_IPS entries, separators and spaces.
ALLOWED_IPS_TEXT_MAX_LENGTH = 2000


def by_schema(rule, value):
    """A schema rule as a form field's cleaning: its ApiKeyError becomes the field's error."""
    try:
        return rule(value)
    except ApiKeyError as error:
        raise forms.ValidationError(error.message) from None


# Service fields that a form names differently.
_FORM_FIELD = {"expires_at": "expires_on"}


def allowed_ips_field() -> forms.CharField:
    """One address or range per line (commas work too); the rules are apikeys.addresses' (clean_allowed_ips)."""
    return forms.CharField(
        label=_("Allowed addresses"),
        required=False,
        max_length=ALLOWED_IPS_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def show_refusal(form: forms.Form, error: ApiKeyError) -> int:
    """Put a service's refusal on the form, on its field (by the form's name for it) or above the fields; return
    the page's status: 200 like any form with errors, except a server-side failure (the database), which keeps
    its 5xx from the one map."""
    field = error.field if error.field in form.fields else _FORM_FIELD.get(error.field)
    form.add_error(field if field in form.fields else None, error.message)
    return http_status(error) if http_status(error) >= 500 else 200


def permissions_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=_("Permissions"),
        choices=[(p.codename, p.display_label) for p in catalog.CATALOG],
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one permission."),
            "invalid_choice": _("%(value)s is not a permission of this cloud."),
        },
    )


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
    permissions = permissions_field()
    allowed_ips = allowed_ips_field()
    ticket = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_name(self) -> str:
        return by_schema(schema.clean_name, self.cleaned_data["name"])

    def clean_description(self) -> str:
        return by_schema(schema.clean_description, self.cleaned_data["description"])

    def clean_tags(self) -> list[str]:
        return by_schema(schema.clean_tags, self.cleaned_data["tags"])

    def clean_allowed_ips(self) -> list[str]:
        return by_schema(addresses.clean_allowed_ips, self.cleaned_data["allowed_ips"])

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
                allowed_ips=data["allowed_ips"],
                created_by=user,
                ip_address=ip_address,
                ticket=data["ticket"],
            )
        except ApiKeyError as error:
            self.refusal = error
            self.status = show_refusal(self, error)
            return None


ACTION_LABELS = {
    # The columns of the permission matrix (catalog.ACTIONS).
    "create": pgettext_lazy("permission action", "Create"),
    "read": pgettext_lazy("permission action", "View"),
    "update": pgettext_lazy("permission action", "Update"),
    "delete": pgettext_lazy("permission action", "Delete"),
}


@dataclass(frozen=True)
class PermissionChoice:
    """One permission checkbox of the create form."""

    entry: catalog.CatalogPermission
    checked: bool
    invalid: bool = False

    @property
    def id(self) -> str:
        return f"perm-{self.entry.codename}"

    @property
    def dangerous(self) -> bool:
        return self.entry.codename in catalog.DANGEROUS

    @property
    def read_only(self) -> bool:
        return self.entry.codename in catalog.READ_ONLY

    @property
    def manage(self) -> bool:
        return self.entry.codename == catalog.CREATE_API_KEYS

    @property
    def danger_id(self) -> str:
        return f"{self.id}-danger"

    @property
    def describedby(self) -> str:
        ids = ["permissions-errors"] if self.invalid else []
        if self.dangerous:
            ids.append(self.danger_id)
        if self.manage:
            ids.append(MANAGE_WARNING_ID)
        return " ".join(ids)


@dataclass
class PermissionGroup:
    """A service's permissions: a resources × actions matrix and/or a list."""

    name: str
    choices: list[PermissionChoice]
    # The matrix: its columns (action, heading) and rows (resource, a (heading, cell) per column).
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[str, list[tuple[str, PermissionChoice | None]]]] = field(default_factory=list)
    # Role-like permissions, outside any matrix.
    items: list[PermissionChoice] = field(default_factory=list)

    @property
    def has_dangerous(self) -> bool:
        return any(choice.dangerous for choice in self.choices)

    @property
    def selectable(self) -> bool:
        """Whether "select all" has anything to select (it skips the dangerous ones)."""
        return any(not choice.dangerous for choice in self.choices)

    @property
    def dangerous_cells(self) -> list[PermissionChoice]:
        return [cell for _resource, cells in self.rows for _heading, cell in cells if cell and cell.dangerous]


MANAGE_WARNING_ID = "manage-warning"


def end_of_day(day: date) -> datetime:
    """A chosen date expires at the end of that day in the site's time zone."""
    return datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())


def last_day_ending_by(instant: datetime) -> date:
    """The last date whose end (end_of_day) is not after `instant`."""
    day = timezone.localdate(instant)
    return day if end_of_day(day) <= instant else day - timedelta(days=1)


class ErrorSummaryForm(forms.Form):
    """A form whose page opens with the GOV.UK error summary (templates/apikeys/_create_error_summary.html)."""

    # The visible fields in the page's order: each error links to its field.
    summary_order: tuple[str, ...] = ()

    def error_anchor(self, name: str) -> str:
        return self[name].auto_id

    def error_summary(self) -> list[tuple[str, str]]:
        """(anchor id or "", message) for every error, in the page's order."""
        summary = [("", str(error)) for error in self.non_field_errors()]
        for name in self.summary_order:
            summary += [(self.error_anchor(name), str(error)) for error in self.errors.get(name, ())]
        # A field the page does not show (the ticket): said without a link.
        for name, errors in self.errors.items():
            if name not in self.summary_order and name != NON_FIELD_ERRORS:
                summary += [("", str(error)) for error in errors]
        return summary


class ExpiryForm(ErrorSummaryForm):
    """The expiry of a new secret (a key's or a credential's): the lifetimes the policy allows, a date, or never."""

    expiration = forms.ChoiceField(label=_("Expiration"), widget=forms.RadioSelect)
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = timezone.now()
        # The date's range: from tomorrow to the last day that ends within the
        # policy's lifetime (or the 100-year bound), so that the picker offers
        # only dates the service accepts.
        cap = settings.API_KEY_MAX_LIFETIME_DAYS
        self.expires_on_min = timezone.localdate(self.now) + timedelta(days=1)
        self.expires_on_max = last_day_ending_by(self.now + (timedelta(days=cap) if cap else schema.MAX_EXPIRY))
        self.time_zone_name = timezone.get_current_timezone_name()
        # Offer only what the lifetime policy allows: a cap of 60 days offers
        # 30 days and 60 days, never 90 or 365.
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
        if self.expires_on_min <= self.expires_on_max:
            choices.append(("custom", _("On a date")))
        if not (settings.API_KEY_REQUIRE_EXPIRY or cap):
            choices.append(("never", _("Never")))
        self.fields["expiration"].choices = choices
        self.fields["expiration"].initial = (
            "90" if "90" in dict(choices) else choices[len(quick) - 1 if quick else 0][0]
        )

    def clean(self):
        data = super().clean()
        choice = data.get("expiration")
        day = data.get("expires_on")
        if choice == "custom":
            if day is None:
                if "expires_on" not in self.errors:
                    self.add_error("expires_on", _("Pick the date on which the key expires."))
            elif day < self.expires_on_min:
                self.add_error("expires_on", self.too_early_message())
            elif day > self.expires_on_max:
                self.add_error("expires_on", self.too_late_message())
            else:
                data["expires_at"] = end_of_day(day)
        elif choice:
            # Without JavaScript the date stays visible whatever is chosen: a
            # date typed there must not be dropped in silence.
            if day is not None:
                self.add_error(
                    "expires_on",
                    _("You entered a date but chose “%(choice)s”. Choose “%(custom)s” to use it, or clear the date.")
                    % {"choice": self.choice_label(choice), "custom": self.choice_label("custom")},
                )
            data["expires_at"] = None if choice == "never" else timezone.now() + timedelta(days=int(choice))
        return data

    # -- the expiry, as the page shows it --------------------------------------

    def choice_label(self, value: str) -> str:
        return str(dict(self.fields["expiration"].choices).get(value, value))

    def too_early_message(self) -> str:
        return gettext("The expiration date must be tomorrow or later.")

    def too_late_message(self) -> str:
        if cap := settings.API_KEY_MAX_LIFETIME_DAYS:
            return ngettext(
                "The expiration date can be at most %(latest)s: a key may live at most %(days)s day.",
                "The expiration date can be at most %(latest)s: a key may live at most %(days)s days.",
                cap,
            ) % {"latest": when(end_of_day(self.expires_on_max)), "days": cap}
        return schema.too_far_message()

    def expiry_text(self, choice: str | None, day: date | None = None) -> str:
        """What the page says a choice means: "Expires on …" or "Never expires"."""
        if choice == "never":
            return gettext("Never expires")
        if choice == "custom":
            if day is None or not self.expires_on_min <= day <= self.expires_on_max:
                return gettext("Pick the date on which the key expires.")
            return expires_on_text() % {"date": when(end_of_day(day))}
        # Only a lifetime this form offers: a posted value is any text.
        if choice in dict(self.fields["expiration"].choices) and choice.isdigit():
            return expires_on_text() % {"date": when(self.now + timedelta(days=int(choice)))}
        return ""

    def expiration_options(self) -> list[dict]:
        """The radios with what each means, for the page and its script."""
        bound = self["expiration"]
        current = str(bound.value() or "")
        invalid = bool(bound.errors)
        return [
            {
                "id": f"{bound.auto_id}_{index}",
                "value": value,
                "label": label,
                "checked": value == current,
                "text": "" if value == "custom" else self.expiry_text(value),
                "invalid": invalid,
            }
            for index, (value, label) in enumerate(self.fields["expiration"].choices)
        ]

    def current_expiry_text(self) -> str:
        choice = str(self["expiration"].value() or "")
        day = None
        if choice == "custom" and "expires_on" not in self.errors:
            try:
                day = self.fields["expires_on"].clean(self["expires_on"].value())
            except forms.ValidationError:
                day = None
        return self.expiry_text(choice, day)

    def date_formatting(self) -> dict[str, str]:
        """What the script needs to write a picked date exactly as the `when` filter does.

        Names come from Django's own formatting in the active language; zone
        abbreviations from the site's time zone, by UTC offset, as they occur
        over a year (CET and CEST, say).
        """
        monday = date(2024, 1, 1)
        weekdays = [monday + timedelta(days=offset) for offset in range(7)]
        months = [date(2024, month, 1) for month in range(1, 13)]
        zones = {}
        # Every four weeks over a year: each offset the zone uses, such as CET and CEST.
        for step in range(14):
            sample = end_of_day(self.expires_on_min + timedelta(weeks=4 * step))
            zones[str(int(sample.utcoffset().total_seconds() // 60))] = date_format(sample, "T")
        return {
            "format": when_format(),
            "template": expires_on_text(),
            "empty": gettext("Pick the date on which the key expires."),
            "too_early": self.too_early_message(),
            "too_late": self.too_late_message(),
            "weekdays": json.dumps([date_format(day, "D") for day in weekdays]),
            "weekdays_long": json.dumps([date_format(day, "l") for day in weekdays]),
            "months": json.dumps([date_format(day, "M") for day in months]),
            "months_long": json.dumps([date_format(day, "F") for day in months]),
            "zone": self.time_zone_name,
            "zone_names": json.dumps(zones),
        }

    def error_anchor(self, name: str) -> str:
        return f"{self[name].auto_id}_0" if name == "expiration" else super().error_anchor(name)


class PermissionMatrix:
    """The permission matrix of a form with a `permissions` field (templates/apikeys/_create_permissions.html).

    `grantable` is what the page offers: the permissions the user holds in
    the project, the only ones they may give (or, to a service account, take away).
    """

    grantable: frozenset[str]

    def clean_permissions(self) -> list[str]:
        chosen = self.cleaned_data["permissions"]
        # The page only offers what the user holds; a forged post gets told.
        if refused := [code for code in chosen if code not in self.grantable]:
            raise forms.ValidationError(
                _("You cannot grant permissions you do not hold in this project: %(codes)s."),
                params={"codes": ", ".join(refused)},
            )
        return chosen

    def error_anchor(self, name: str) -> str:
        return self.first_permission_id() if name == "permissions" else super().error_anchor(name)

    def checked_permissions(self) -> set[str]:
        return set(self["permissions"].value() or ())

    def permission_groups(self) -> list[PermissionGroup]:
        """The grantable permissions by service, in catalog order: CRUD cells as a matrix, the rest as a list."""
        checked = self.checked_permissions()
        invalid = bool(self["permissions"].errors)
        groups = []
        for name, entries in catalog.grouped(self.grantable):
            group = PermissionGroup(name, [PermissionChoice(e, e.codename in checked, invalid) for e in entries])
            cells: dict[int, tuple[str, dict[str, PermissionChoice]]] = {}
            for choice in group.choices:
                if choice.entry.resource is None or choice.entry.action not in catalog.ACTIONS:
                    group.items.append(choice)
                else:
                    resource = choice.entry.resource
                    cells.setdefault(id(resource), (resource, {}))[1][choice.entry.action] = choice
            used = [action for action in catalog.ACTIONS if any(action in row for _resource, row in cells.values())]
            group.columns = [(action, ACTION_LABELS[action]) for action in used]
            group.rows = [
                (resource, [(ACTION_LABELS[action], row.get(action)) for action in used])
                for resource, row in cells.values()
            ]
            groups.append(group)
        return groups

    def first_permission_id(self) -> str:
        groups = self.permission_groups()
        if not groups:
            return ""
        group = groups[0]
        # The first checkbox on the page: the matrix comes before the list.
        for _resource, cells in group.rows:
            for _heading, cell in cells:
                if cell is not None:
                    return cell.id
        return group.items[0].id

    def selected_permissions(self) -> list[catalog.CatalogPermission | str]:
        """The ticked permissions in catalog order (a forged unknown codename as itself)."""
        checked = self.checked_permissions()
        known = [p for p in catalog.CATALOG if p.codename in checked]
        return known + sorted(checked - catalog.CODENAMES)

    def dangerous_left_out(self) -> list[str]:
        """The labels of the dangerous permissions the user could grant, which "everything" leaves out."""
        return [p.display_label for p in catalog.CATALOG if p.codename in self.grantable & catalog.DANGEROUS]

    def selection_count(self) -> dict[str, str]:
        """The summary's count: for the page, and its plural forms for the script (English and German have two)."""

        def text(n: int) -> str:
            return ngettext("%(count)s permission selected:", "%(count)s permissions selected:", n)

        count = len(self.selected_permissions())
        return {"one": text(1), "other": text(2), "current": text(count) % {"count": count} if count else ""}


PRESETS = {
    # ?preset=… works without JavaScript; create-form.js applies the same in place.
    "read": lambda grantable: grantable & catalog.READ_ONLY,
    # Dangerous permissions only on purpose: "everything" leaves them out, and
    # the page offers the second preset to add them.
    "all": lambda grantable: grantable - catalog.DANGEROUS,
    "all-with-dangerous": lambda grantable: grantable,
}


class ApiKeyCreateForm(PermissionMatrix, ExpiryForm, KeyValuesForm):
    """The console's create form: the values, the expiry, and the permission matrix."""

    summary_order = ("name", "description", "tags", "expiration", "expires_on", "allowed_ips", "permissions")

    def __init__(self, *args, grantable: frozenset[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.grantable = grantable
        # Said in the error summary too, where "This field is required." would not say which.
        self.fields["name"].error_messages["required"] = _("Enter a name for the key.")
        self.fields["tags"].help_text = _("Comma-separated short labels, for example: ci, production.")


def expires_on_text() -> str:
    # Translators: %(date)s is a date and time such as "Tue, 24 Feb 2027, 23:59 UTC".
    return gettext("Expires on %(date)s")
