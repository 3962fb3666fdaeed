"""Admin pieces shared by the apps."""

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpResponseRedirect
from django.utils.html import format_html

# No page needs more rows in one inline than this; a posted form count above it is refused
# at once instead of building millions of forms (docs/security.md).
MAX_INLINE_FORMS = 100


def is_valid_pk(model, value) -> bool:
    """Whether ``value`` can be a primary key of ``model`` (an id a query may be made with)."""
    field = model._meta.pk
    try:
        pk = field.to_python(value)
    except (ValidationError, ValueError, TypeError):
        return False
    if isinstance(pk, int):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        return (low is None or pk >= low) and (high is None or pk <= high)
    return pk is not None


class GuardedAutocompleteSelect(AutocompleteSelect):
    """A form posted back with a value that names no possible row ("abc", 40 digits) is shown
    again with nothing selected: Django's widget would query with the value and fail."""

    def optgroups(self, name, value, attr=None):
        model = self.field.remote_field.model
        return super().optgroups(name, [v for v in value if is_valid_pk(model, v)], attr)


class GuardedInputAdminMixin:
    """A ModelAdmin or inline whose forms and actions answer a value that names no possible row
    with a message or a form error, never a 500."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request) and "widget" not in kwargs:
            kwargs["widget"] = GuardedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(is_valid_pk(self.model, value) for value in selected):
            self.message_user(request, "The selection names items that do not exist: nothing was done.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class CappedInlineMixin:
    """Every editable inline: at most MAX_INLINE_FORMS rows, and a larger form count is an error."""

    max_num = MAX_INLINE_FORMS

    def get_formset(self, request, obj=None, **kwargs):
        kwargs.setdefault("absolute_max", MAX_INLINE_FORMS)
        kwargs.setdefault("validate_max", True)
        return super().get_formset(request, obj, **kwargs)


class ReadOnlyInlineMixin:
    """An inline that shows records (jobs, hook runs, stopped containers, approvals) and
    never lets anyone add, change or delete them from the parent's page."""

    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # Nothing can be added here, so a posted form count is never more than the rows
        # shown: anything above is not built (Django's default would build up to 2000 forms).
        rows = formset.model._default_manager.filter(**{formset.fk.name: obj}).count() if obj and obj.pk else 0
        formset.absolute_max = max(rows, 1)
        return formset


def truncated(text: str, width: str = ""):
    """Long text in a list cell: one line cut with an ellipsis (borgui/admin.css; WIDTH
    "narrow" or "medium"), the whole text in its title, so a list keeps its columns at 1280 px."""
    if not text:
        return "—"
    return format_html('<span class="truncate {}" title="{}">{}</span>', width, text, text)
