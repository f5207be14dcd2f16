"""The admin site: Django's, with the console's log-in policy on its log-in page."""

from django.contrib import admin
from django.contrib.admin import widgets
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from accounts.views import LoginView
from config import ratelimit


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


class ConsoleAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model admin of this site, ours and Django's (users, groups), filters by its list filters only."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ListFilterLookupsOnly):
            admin_class = type(
                admin_class.__name__, (ListFilterLookupsOnly, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)

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
