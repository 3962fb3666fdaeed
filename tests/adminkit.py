"""Helpers for admin page tests."""

from html.parser import HTMLParser
from importlib import import_module

from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLResolver, get_resolver


def count_changelist_queries(client, url: str, expected_rows: int) -> int:
    """Queries one changelist page costs; checks it shows the expected number of rows."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected_rows
    return len(queries)


class _FormData(HTMLParser):
    """What a browser would post for the change form of a page, as rendered."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("id") or "").endswith("_form"):
            self._in_form = True
        if not self._in_form or "__prefix__" in (a.get("name") or ""):
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.setdefault(a["name"], []).append(a.get("value") or "on")
            else:
                self.data.setdefault(a["name"], []).append(a.get("value") or "")
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self.data.setdefault(self._select, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value") or "")
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            text = "".join(self._text)
            self.data[self._textarea] = [text[1:] if text.startswith("\n") else text]
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


class _FieldValue(HTMLParser):
    """The value one input or textarea of a page shows."""

    def __init__(self, name: str):
        super().__init__(convert_charrefs=True)
        self.name, self.value, self._in_textarea = name, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("name") != self.name:
            return
        if tag == "input":
            self.value = a.get("value") or ""
        elif tag == "textarea":
            self.value, self._in_textarea = "", True

    def handle_endtag(self, tag):
        if tag == "textarea" and self._in_textarea:
            self._in_textarea = False
            self.value = self.value[1:] if self.value.startswith("\n") else self.value

    def handle_data(self, data):
        if self._in_textarea:
            self.value += data


def shown_value(response, name: str) -> str | None:
    """What the field NAME of a page shows ("" when empty); None when the page has no such field."""
    parser = _FieldValue(name)
    parser.feed(response.content.decode())
    return parser.value


def form_data(client, url: str) -> dict:
    parser = _FormData()
    parser.feed(client.get(url).content.decode())
    data = {name: values if len(values) != 1 else values[0] for name, values in parser.data.items() if values}
    data["_save"] = "Save"
    return data


def registered_admins() -> dict:
    """Model -> ModelAdmin of every admin page (tests/test_roles.py walks them all)."""
    import_module(settings.ROOT_URLCONF)  # the URLs import the admin modules (SimpleAdminConfig)
    assert admin.site._registry
    return admin.site._registry


def admin_url_names() -> set[str]:
    """Every named URL, with its namespace (``admin:…``)."""

    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            elif pattern.name:
                yield f"{namespace}:{pattern.name}" if namespace else pattern.name

    return set(walk(get_resolver().url_patterns))
