from django.urls import path

from benchmarks.peer import views

urlpatterns = [path("whoami", views.whoami), path("whoami-once", views.whoami_once)]
