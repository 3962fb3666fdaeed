"""Form pieces shared by the admin pages."""

from django import forms


class TypedValueMixin:
    """A widget that remembers what was typed into it in this very submission (``_typed``;
    None when the form is not bound)."""

    _typed: str | None = None

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        self._typed = value if isinstance(value, str) else None
        return value


class TypedSecretMixin(TypedValueMixin):
    """A secret input that shows only what was typed into this very submission.

    A form that comes back with an error elsewhere keeps the secret the user just typed (so
    fixing a path does not then fail with "needs a passphrase"); a stored secret is never
    rendered, whatever value the form would give the widget (docs/hooks.md#secrets-and-masking).
    """

    def get_context(self, name, value, attrs):
        return super().get_context(name, self._typed or None, attrs)


class SecretInput(TypedSecretMixin, forms.PasswordInput):
    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "new-password", **(attrs or {})}, render_value=True)


class SecretTextarea(TypedSecretMixin, forms.Textarea):
    def __init__(self, attrs=None):
        super().__init__({"rows": 4, "autocomplete": "off", "placeholder": "(hidden)", **(attrs or {})})


class SecretFieldsMixin:
    """Secret model fields that are never rendered back (docs/hooks.md#secrets-and-masking).

    The input is empty unless a bounced form brings back what was just typed; the help text
    says whether a value is set. Leaving it empty keeps the stored value; the "clear" box
    removes it.
    """

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            is_set = bool(self.instance and getattr(self.instance, name, ""))
            field = self.fields[name]
            multiline = name in ("private_key", "exported_key")
            field.widget = SecretTextarea() if multiline else SecretInput()
            field.required = False
            field.initial = ""
            # A passphrase is taken exactly as typed: spaces at its ends are part of it.
            field.strip = multiline
            status = "Set — leave empty to keep it." if is_set else "Not set."
            field.help_text = f"{status} {field.help_text or ''}".strip()
            if is_set:
                self.fields[f"clear_{name}"] = forms.BooleanField(
                    required=False, label=f"Remove the stored {field.label.lower()}"
                )

    def get_initial_for_field(self, field, field_name):
        if field_name in self.secret_fields:
            return ""
        return super().get_initial_for_field(field, field_name)

    def _post_clean(self):
        # Put the stored secret back before model validation when the input was left empty.
        for name in self.secret_fields:
            if name not in self.fields or not self.instance.pk:
                continue
            if self.cleaned_data.get(f"clear_{name}"):
                self.cleaned_data[name] = ""
            elif not self.cleaned_data.get(name):
                self.cleaned_data[name] = (
                    type(self.instance).objects.filter(pk=self.instance.pk).values_list(name, flat=True).first() or ""
                )
        super()._post_clean()


class LinesField(forms.CharField):
    """A list of strings edited as one per line (sources, excludes)."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField", "style": "font-family: monospace"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def has_changed(self, initial, data):
        return self.to_python(initial or []) != self.to_python(data)
