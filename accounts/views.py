from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views import i18n
from django.views.i18n import LANGUAGE_QUERY_PARAMETER

from accounts.models import remember_language
from config import ratelimit


class LoginView(auth_views.LoginView):
    """Django's log-in under the log-in policy (config.ratelimit).

    The console's log-in page, and the admin's (config.admin), so that one
    policy counts every failure. Past a limit the password is not even
    checked, so guessing stops being useful; only failures count and a
    success clears the username's count. If the cache is down the limit fails
    open (logged).
    """

    redirect_authenticated_user = True

    def _username(self) -> str:
        return self.request.POST.get("username") or ""

    def post(self, request, *args, **kwargs):
        if not ratelimit.login_allowed(request, self._username()):
            # An unbound form: validating it would check the password.
            form = self.get_form_class()(request, initial={"username": self._username()[:150]})
            context = self.get_context_data(form=form, throttled=ratelimit.login_refused_message())
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        ratelimit.login_failed(self.request, self._username())
        return super().form_invalid(form)

    def form_valid(self, form):
        ratelimit.login_succeeded(self.request, self._username())
        return super().form_valid(form)


@login_not_required
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switcher; a logged-in user's choice is also remembered for the mail we send them."""
    response = i18n.set_language(request)
    if request.method == "POST" and response.status_code == 302 and request.user.is_authenticated:
        remember_language(request.user, request.POST.get(LANGUAGE_QUERY_PARAMETER))
    return response
