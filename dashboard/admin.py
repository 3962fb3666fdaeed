"""The admin's front page is the dashboard (docs/dashboard.md); django-q's task lists are
for superusers only (others who hold their permissions reach them from the System page)."""

from django.contrib import admin
from django_q.models import Failure, OrmQ, Schedule, Success

admin.site.index_template = "admin/dashboard/index.html"

TASK_MODELS = (Schedule, Success, Failure, OrmQ)


def _superusers_only(model_admin_class):
    class SuperusersOnly(model_admin_class):
        def has_module_permission(self, request):
            return request.user.is_active and request.user.is_superuser

    SuperusersOnly.__name__ = model_admin_class.__name__
    return SuperusersOnly


for model in TASK_MODELS:
    if admin.site.is_registered(model):
        model_admin = type(admin.site.get_model_admin(model))
        admin.site.unregister(model)
        admin.site.register(model, _superusers_only(model_admin))
