from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from borgui import views
from dashboard import views as dashboard_views
from notifications.views import metrics_view
from system import views as system_views

# SimpleAdminConfig: admin modules are imported here, for the web process only, so that
# management commands such as run_backup start faster.
admin.autodiscover()
admin.site.site_header = "borgui"
admin.site.site_title = "borgui"
admin.site.index_title = "Backups"
system_views.add_system_link(admin.site)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Browsers ask for /favicon.ico when a page names none (the admin's pages name the SVG).
    path("favicon.ico", RedirectView.as_view(url=static("borgui/favicon.svg"), permanent=True), name="favicon"),
    path("healthz", views.healthz, name="healthz"),  # normally answered by HealthCheckMiddleware
    path("metrics", metrics_view, name="metrics"),  # Prometheus (docs/notifications.md)
    path("admin/system/", admin.site.admin_view(system_views.system_view), name="system"),
    path(
        "admin/dashboard/progress.json",
        admin.site.admin_view(dashboard_views.progress_view),
        name="dashboard_progress",
    ),
    path("", include("accounts.urls")),  # sign-in pages; before the admin's catch-all
    path("admin/", admin.site.urls),
]
