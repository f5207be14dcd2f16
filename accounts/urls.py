from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

# Not namespaced: "login" and "logout" are the names Django's own settings
# (LOGIN_URL), the templates and the admin site use.
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
