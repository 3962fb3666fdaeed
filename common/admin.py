"""Admin pieces shared by the apps."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
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


# --- buttons and sections of an object's page (docs/admin.md) ------------------------------
# Each app adds its own to a model's page, so the page's app need not know them.


@dataclass(frozen=True)
class ObjectButton:
    """A button in the object tools: an action (a form that posts to URL) or a link to a page."""

    element_id: str
    label: str
    url: str
    post: bool = True
    order: int = 0


@dataclass(frozen=True)
class ObjectSection:
    """A part of an object's page below its form: TEMPLATE rendered with CONTEXT as `section`."""

    template: str
    context: dict = field(default_factory=dict)
    order: int = 0


_buttons: dict[str, list[Callable]] = {}
_sections: dict[str, list[Callable]] = {}


def add_buttons(model_label: str, source: Callable) -> None:
    """SOURCE(request, obj) → the ObjectButtons this user may use on OBJ's page."""
    if source not in _buttons.setdefault(model_label, []):
        _buttons[model_label].append(source)


def add_sections(model_label: str, source: Callable) -> None:
    """SOURCE(request, obj) → the ObjectSections of OBJ's page."""
    if source not in _sections.setdefault(model_label, []):
        _sections[model_label].append(source)


def _collected(sources: dict, request, obj) -> list:
    found = [item for source in sources.get(obj._meta.label_lower, []) for item in source(request, obj)]
    return sorted(found, key=lambda item: item.order)


class ObjectPageMixin:
    """A ModelAdmin whose change page shows the buttons and sections the apps added."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if is_valid_pk(self.model, unquote(object_id)) else None
        extra = {"object_buttons": [], "object_sections": []}
        if obj is not None:
            extra = {
                "object_buttons": _collected(_buttons, request, obj),
                "object_sections": _collected(_sections, request, obj),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


def confirmation_page(request, model_admin, obj, question: str, details=(), button: str = "Yes", back_url=None):
    """The page a GET of an action's URL answers: what the action will do, and a button that
    posts to the same URL (docs/admin.md: an action runs only on POST)."""
    opts = model_admin.model._meta
    back_url = back_url or reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    context = {
        **model_admin.admin_site.each_context(request),
        "title": question, "opts": opts, "original": obj, "subpage": question, "details": list(details),
        "button": button, "back_url": back_url,
    }  # fmt: skip
    return TemplateResponse(request, "admin/confirm_action.html", context)


def truncated(text: str, width: str = ""):
    """Long text in a list cell: one line cut with an ellipsis (borgui/admin.css; WIDTH
    "narrow" or "medium"), the whole text in its title, so a list keeps its columns at 1280 px."""
    if not text:
        return "—"
    return format_html('<span class="truncate {}" title="{}">{}</span>', width, text, text)
