"""Admin for notification channels, and what notifications add to the plan and run pages.

Channel URLs and ping URLs reach any address the worker can, so only users holding
``notifications.change_channel`` (superusers, the ``admin`` group) create or edit them;
everyone else sees a URL as its scheme only (docs/notifications.md).
"""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from common.admin import ReadOnlyInlineMixin
from common.forms import SecretFieldsMixin
from hooks.admin import AttachmentFormSet
from notifications.models import Channel, DeliveryAttempt, EventKind, PlanMonitoring
from notifications.services import delivery, urls
from repositories import admin as repositories_admin
from repositories.models import BackupPlan, PlanRun

MANAGE_PERMISSION = "notifications.change_channel"
RECENT_ATTEMPTS = 20


def can_manage(request) -> bool:
    return request.user.has_perm(MANAGE_PERMISSION)


class ChannelForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = ("url",)
    events = forms.MultipleChoiceField(
        choices=EventKind.choices, widget=forms.CheckboxSelectMultiple, initial=EventKind.defaults
    )

    class Meta:
        model = Channel
        fields = ["name", "url", "events", "all_plans", "plans"]
        widgets = {"plans": forms.CheckboxSelectMultiple}


def attempts_table(attempts) -> str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (a.at.strftime("%Y-%m-%d %H:%M:%S"), a.kind, a.target, a.subject, a.attempt, "ok" if a.ok else a.error)
            for a in attempts
        ),
    )
    if not rows:
        return "—"
    return format_html(
        "<table><tr><th>time</th><th>event</th><th>to</th><th>about</th><th>try</th><th>result</th></tr>{}</table>",
        rows,
    )


@admin.register(Channel)
class ChannelAdmin(repositories_admin.SecretFieldsAdminMixin, admin.ModelAdmin):
    view_on_site = False  # its page is this page
    form = ChannelForm
    list_display = ["name", "url_shown", "event_list", "scope"]
    search_fields = ["name"]
    actions = ["send_test"]
    readonly_fields = ["url_shown", "recent_attempts"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("plans")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        fields = [name for name in fields if name not in ("url_shown", "recent_attempts", "secrets_state")]
        if obj is not None and not self.has_change_permission(request, obj):
            fields = [name for name in fields if name not in ("url", "clear_url")]
        return [*fields, "url_shown", *(["recent_attempts"] if obj is not None else [])]

    @admin.display(description="URL")
    def url_shown(self, obj):
        return obj.shown_url

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="plans")
    def scope(self, obj):
        return "every plan" if obj.all_plans else ", ".join(plan.name for plan in obj.plans.all()) or "none"

    @admin.display(description=f"last {RECENT_ATTEMPTS} delivery attempts")
    def recent_attempts(self, obj):
        return attempts_table(obj.attempts.order_by("-at", "-id")[:RECENT_ATTEMPTS])

    @admin.action(description="Send test notification", permissions=["change"])
    def send_test(self, request, queryset):
        for channel in queryset:
            attempt = delivery.send_test(channel)
            if attempt.ok:
                self.message_user(request, f"Channel {channel.name}: test notification delivered.", messages.SUCCESS)
            else:
                self.message_user(request, f"Channel {channel.name}: not delivered: {attempt.error}", messages.ERROR)


class PlanMonitoringForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = ("ping_url",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every form of an inline formset shows the same fields, set or not.
        self.fields.setdefault("clear_ping_url", forms.BooleanField(required=False, label="Remove the stored ping URL"))

    class Meta:
        model = PlanMonitoring
        fields = ["ping_url", "alert_after_hours"]


class PlanMonitoringInline(admin.StackedInline):
    model = PlanMonitoring
    form = PlanMonitoringForm
    formset = AttachmentFormSet  # a post without this inline (an older client) changes no monitoring
    max_num = 1
    can_delete = False
    verbose_name_plural = "monitoring (ping URL, stale alert)"

    def get_fields(self, request, obj=None):
        if not can_manage(request):
            return ["ping_url_shown", "alert_after_hours", "stale_since"]
        return ["ping_url", "clear_ping_url", "ping_url_shown", "alert_after_hours", "stale_since"]

    def get_readonly_fields(self, request, obj=None):
        return ["ping_url_shown", "stale_since"]

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["fields"] = [f for f in self.get_fields(request, obj) if f in ("ping_url", "alert_after_hours")]
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="stored ping URL")
    def ping_url_shown(self, obj):
        return urls.shown(obj.ping_url) if obj.ping_url else "—"

    def has_add_permission(self, request, obj=None):
        return can_manage(request)

    def has_change_permission(self, request, obj=None):
        return can_manage(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("repositories.view_backupplan")


class RunDeliveryAttemptInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = DeliveryAttempt
    fk_name = "run"
    verbose_name_plural = "notifications and pings of this run"
    fields = ["at", "kind", "target", "attempt", "ok", "error"]
    readonly_fields = fields
    ordering = ["at", "id"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("repositories.view_planrun")


# --- what the plan and run pages show of notifications ---------------------------------


# Built on the admin registered so far (the hooks app's adds its inlines the same way).
PlanAdmin = type(admin.site.get_model_admin(BackupPlan))
RunAdmin = type(admin.site.get_model_admin(PlanRun))


class MonitoredBackupPlanAdmin(PlanAdmin):
    inlines = [*PlanAdmin.inlines, PlanMonitoringInline]
    list_display = [*PlanAdmin.list_display, "stale"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("monitoring")

    @admin.display(description="stale")
    def stale(self, obj):
        monitoring = getattr(obj, "monitoring", None)  # a missing one raises an AttributeError
        if monitoring is None or not monitoring.stale_since:
            return "—"
        since = monitoring.stale_since.strftime("%Y-%m-%d %H:%M")
        return format_html('<strong style="color:#c62828">stale since {}</strong>', since)


class NotifiedPlanRunAdmin(RunAdmin):
    inlines = [*RunAdmin.inlines, RunDeliveryAttemptInline]


admin.site.unregister(BackupPlan)
admin.site.register(BackupPlan, MonitoredBackupPlanAdmin)
admin.site.unregister(PlanRun)
admin.site.register(PlanRun, NotifiedPlanRunAdmin)
