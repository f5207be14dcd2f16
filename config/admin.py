"""The admin site: Django's, with the console's log-in policy on its log-in and password pages,
changelists that filter by their list filters only, read-only pages that stay read-only,
and a 400 for values its views would use unchecked."""

import copy
import re
from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.http import HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from accounts.views import LoginView
from config import ratelimit
from config.inputguard import refuse


class PasswordChangeView(auth_views.PasswordChangeView):
    """Checking the old password is a log-in too: the same policy limits the guesses.

    Someone holding a stolen session must not be able to try passwords here
    without limit, and failures here count toward the log-in pages' limit
    (and theirs toward this one).
    """

    def post(self, request, *args, **kwargs):
        username = request.user.get_username()
        if not ratelimit.login_allowed(request, username):
            form = self.get_form_class()(request.user)  # unbound: the old password is not checked
            form.cleaned_data = {}
            form.errors  # noqa: B018 - makes the form hold errors
            form.add_error("old_password", ratelimit.login_refused_message())
            return self.render_to_response(self.get_context_data(form=form), status=429)
        form = self.get_form()
        if form.is_valid():
            ratelimit.login_succeeded(request, username)
            return self.form_valid(form)
        if "old_password" in form.errors:
            ratelimit.login_failed(request, username)
        return self.form_invalid(form)


class ListFilterLookupsOnly:
    """A changelist filters by what its list filters offer, and by nothing else.

    Django's ModelAdmin.lookup_allowed lets the query string filter on any
    lookup of the model's own fields (`?name__regex=(`, `?created_at__year=
    99999999999`, `?tags__contains=x`): each one a query the database may
    refuse (a 500), and a way to probe values no column of the list shows.
    Here the allowed lookups are exactly the parameters of the list filters
    and the date hierarchy, plus the related-object popups' own lookups.
    """

    def lookup_allowed(self, lookup, value, request=None):
        if lookup in self._filter_parameters(request):
            return True
        # The raw-id and related popups filter by `limit_choices_to`: Django's own rule.
        for fk_lookup in self.model._meta.related_fkey_lookups:
            if callable(fk_lookup):
                fk_lookup = fk_lookup()
            if (lookup, value) in widgets.url_params_from_lookup_dict(fk_lookup).items():
                return True
        return False

    def _filter_parameters(self, request) -> set[str]:
        cached = getattr(request, "_admin_filter_parameters", {})
        if self in cached:
            return cached[self]
        parameters: set[str] = set()
        for item in self.get_list_filter(request):
            if isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                parameters.add(item.parameter_name)
                continue
            field_path, filter_class = item if isinstance(item, (list, tuple)) else (item, admin.FieldListFilter.create)
            field = get_fields_from_path(self.model, field_path)[-1]
            # With no parameters a filter only says which ones it reads.
            spec = filter_class(field, request, {}, self.model, self, field_path=field_path)
            parameters.update(spec.expected_parameters())
        if self.date_hierarchy:
            parameters.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
        if request is not None:
            request._admin_filter_parameters = {**cached, self: parameters}
        return parameters


class ViewOnlyStaysInTheAdmin:
    """A POST to a change page the user may only view is refused on that page.

    Django shows such a page without Save buttons (has_change_permission
    False, has_view_permission True) but answers a POST to it, from a stale
    tab or a forged form, with PermissionDenied, which is the console's 403
    page: out of the admin. Here the same view-only page is shown again, with
    a message and status 403, and nothing is saved. An object the user may
    not see answers like a missing one, as it does to a GET (Django's
    redirect to the admin's index with a message).
    """

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST" and "_saveasnew" not in request.POST:
            to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
            # A field that may not be referenced: Django's 400, below.
            if not to_field or self.to_field_allowed(request, to_field):
                obj = self.get_object(request, unquote(object_id), to_field)
                if obj is None and self.has_view_or_change_permission(request):
                    # As for a GET (Django asks for the change permission first on a POST).
                    return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
                if (
                    obj is not None
                    and not self.has_change_permission(request, obj)
                    and self.has_view_permission(request, obj)
                ):
                    self.message_user(
                        request,
                        gettext("The %(name)s “%(object)s” can only be viewed, not changed. Nothing was saved.")
                        % {"name": self.opts.verbose_name, "object": obj},
                        messages.ERROR,
                    )
                    # The page of a GET (the POST passed the CSRF check already).
                    viewing = copy.copy(request)
                    viewing.method = "GET"
                    response = super().change_view(viewing, object_id, form_url, extra_context)
                    response.status_code = 403
                    return response
        return super().change_view(request, object_id, form_url, extra_context)


# Mixed into every model admin of the site, ours and Django's (users, groups).
SITE_WIDE = (ListFilterLookupsOnly, ViewOnlyStaysInTheAdmin)


DATE_PARTS = {"year": 9998, "month": 12, "day": 31}


def _input_problem(request, model_admin, view_name: str) -> str | None:
    """What is wrong with the values a model admin's view uses without a form, if anything.

    Each would reach a query unchecked: the keys selected for a changelist
    action (ValueError, or OverflowError on SQLite), an add form's prefilled
    relations (`?user=<pk>`, queried by autocomplete widgets), an empty
    `_to_field` (FieldDoesNotExist) and the date hierarchy's year, month and
    day (OverflowError past a C long, ValueError past year 9998). Reading
    request.POST here is what CsrfViewMiddleware has done for the view anyway.
    """
    post = request.POST if request.method == "POST" else QueryDict()
    # Present but empty, Django looks up a field named "" (FieldDoesNotExist).
    if any(data.get(TO_FIELD_VAR) == "" for data in (request.GET, post)):
        return "_to_field must name a field."
    if view_name == "changelist_view":
        pk = model_admin.model._meta.pk
        if not all(_clean(pk, value) for value in post.getlist(ACTION_CHECKBOX_NAME)):
            return "The selection names an object that cannot exist."
        if hierarchy := model_admin.date_hierarchy:
            for part, highest in DATE_PARTS.items():
                # Django catches an impossible date, not a year past 9998 or a number past a C long.
                values = request.GET.getlist(f"{hierarchy}__{part}")
                if not all(re.fullmatch(r"[0-9]{1,4}", value) and 1 <= int(value) <= highest for value in values):
                    return f"{hierarchy}__{part} must be a number from 1 to {highest}."
    if view_name == "add_view":
        for name, value in request.GET.items():
            if not _valid_prefill(model_admin.model, name, value):
                return f"The prefilled value of {name} names an object that cannot exist."
    return None


def _clean(model_field, value: str) -> bool:
    """Whether `value` could be stored in the field: its type and, for integers, the database's range."""
    try:
        model_field.clean(value, None)
    except ValidationError:
        return False
    return True


def _valid_prefill(model, name: str, value: str) -> bool:
    """An add form's ?<relation>=<pk>[,<pk>…] must name keys the related model can hold."""
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return True
    if not (model_field.is_relation and model_field.concrete) or not value:
        return True
    if model_field.many_to_many:
        values, target = value.split(","), model_field.remote_field.model._meta.pk
    else:
        values, target = [value], model_field.target_field
    return all(_clean(target, item) for item in values)


class ConsoleAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model admin of this site, ours and Django's (users, groups), gets the SITE_WIDE rules."""
        admin_class = admin_class or admin.ModelAdmin
        if missing := tuple(rule for rule in SITE_WIDE if not issubclass(admin_class, rule)):
            admin_class = type(admin_class.__name__, (*missing, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)

    def admin_view(self, view, cacheable=False):
        """Every admin view; a model admin's refuses values no form checks (400) before it runs."""
        model_admin = getattr(view, "__self__", None)
        if isinstance(model_admin, admin.ModelAdmin):
            unchecked = view

            @wraps(unchecked)
            def view(request, *args, **kwargs):
                if problem := _input_problem(request, model_admin, unchecked.__name__):
                    return refuse(request, problem)
                return unchecked(request, *args, **kwargs)

        return super().admin_view(view, cacheable)

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        """Django's AdminSite.login, served by the console's LoginView.

        The admin's log-in page would otherwise take unlimited guesses. Its
        page, form and context stay Django's; only the view is the console's
        (accounts.views.LoginView), which applies the one log-in policy of
        config.ratelimit. Django creates its own LoginView inside this method,
        so the method is repeated here (as of Django 5.2: compare it when
        upgrading) rather than extended.
        """
        if request.method in ("GET", "HEAD") and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return LoginView.as_view(
            extra_context=context,
            authentication_form=self.login_form or AdminAuthenticationForm,
            template_name=self.login_template or "admin/login.html",
            # Django's admin default: a logged-in non-staff user gets the form
            # (to switch accounts), not a redirect back to the admin.
            redirect_authenticated_user=False,
        )(request)

    def password_change(self, request, extra_context=None):
        """Django's AdminSite.password_change (5.2), served by the limited view above."""
        request.current_app = self.name
        return PasswordChangeView.as_view(
            form_class=AdminPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
            **({"template_name": self.password_change_template} if self.password_change_template else {}),
        )(request)
