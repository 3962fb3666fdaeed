from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from borgui import views

# SimpleAdminConfig: admin modules are imported here, for the web process only, so that
# management commands such as run_backup start faster.
admin.autodiscover()
admin.site.site_header = "borgui"
admin.site.site_title = "borgui"
admin.site.index_title = "Backups"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", views.healthz, name="healthz"),  # normally answered by HealthCheckMiddleware
    path("admin/", admin.site.urls),
]
