"""Forms of the hooks admin: scripts, their parameters, attachments and script tests.

Rules live in the models (``clean()``, field validators); these forms only translate
between what a person types and what the models store, and keep secrets from ever being
rendered back (docs/hooks.md#secrets-and-masking).
"""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError

from common.forms import SecretInput, TypedValueMixin
from hooks.models import HookAttachment, HookType, Script, ScriptParameter
from hooks.services.testing import BACKUP_STATUSES
from repositories.models import Repository

MONOSPACE = "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace;"
PLACEHOLDER = "********"
APPROVE_PERMISSION = "hooks.approve_script"
TEST_PERMISSION = "hooks.test_script"


class CodeEditor(forms.Textarea):
    """A monospace textarea with line numbers for script bodies (tabs and spaces kept as
    typed). The gutter is drawn by a self-hosted script found by its data- attribute; the
    admin pages load it with the form's media (no inline script, nothing from a CDN)."""

    class Media:
        css = {"all": ["hooks/code-editor.css"]}
        js = ["hooks/code-editor.js"]

    def __init__(self, rows: int = 24):
        super().__init__(
            attrs={
                "rows": rows,
                "cols": 100,
                "class": "vLargeTextField borgui-code",
                "data-code-editor": "",
                "spellcheck": "false",
                "autocapitalize": "off",
                "autocomplete": "off",
                "wrap": "off",
            }
        )


def as_typed(submitted: str, stored: str) -> str:
    """A textarea's text as it should be stored. Browsers send CRLF line ends (and a shebang
    line ending in \\r names no interpreter), so they become LF — unless the text is the
    stored one, which is then kept byte for byte (its review hash must not change)."""
    normalised = submitted.replace("\r\n", "\n")
    return stored if normalised == stored.replace("\r\n", "\n") else normalised


# --- scripts and their parameters -----------------------------------------------------------


class ScriptForm(forms.ModelForm):
    class Meta:
        model = Script
        fields = ["name", "description", "body", "timeout", "execution_target"]
        widgets = {"body": CodeEditor(), "description": forms.Textarea(attrs={"rows": 2, "cols": 80})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "body" in self.fields:
            self.fields["body"].strip = False  # the body is hashed for review: keep it exactly

    def clean_body(self):
        # The empty body is refused by Script.clean, for apply_config as for this form.
        return as_typed(self.cleaned_data.get("body") or "", self.instance.body if self.instance.pk else "")


class ScriptParameterForm(forms.ModelForm):
    """A declared parameter. The default of a secret parameter is never shown; typing a
    new default for a secret parameter is refused (defaults are stored in clear)."""

    class Meta:
        model = ScriptParameter
        fields = ["name", "default", "required", "secret", "description"]
        widgets = {"name": forms.TextInput(attrs={"style": MONOSPACE, "size": 24})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored_secret_default = ""
        if self.instance.pk and self.instance.secret and "default" in self.fields:
            self._stored_secret_default = self.instance.default
            self.fields["default"].widget = SecretInput(
                attrs={"placeholder": "set — leave to keep" if self.instance.default else ""}
            )

    def get_initial_for_field(self, field, field_name):
        if field_name == "default" and self._stored_secret_default:
            return ""
        return super().get_initial_for_field(field, field_name)

    def clean(self):
        cleaned = super().clean()
        # A typed default of a secret parameter is refused by ScriptParameter.clean.
        if cleaned.get("secret") and not cleaned.get("default") and self._stored_secret_default:
            cleaned["default"] = self._stored_secret_default  # left empty: keep it
        return cleaned


# --- attachment parameter values: NAME=value per line ---------------------------------------


def _secret_names(*scripts) -> set[str]:
    ids = {s.pk if isinstance(s, Script) else s for s in scripts if s}
    if not ids:
        return set()
    return set(ScriptParameter.objects.filter(script_id__in=ids, secret=True).values_list("name", flat=True))


def parse_value_lines(text: str) -> list[tuple[str, str]]:
    """``NAME=value`` per line (blank lines and ``#`` comments ignored), in order."""
    pairs, errors = [], []
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            errors.append(f"line {number}: write NAME=value")
            continue
        pairs.append((name.strip(), value.strip()))
    if errors:
        raise ValidationError("; ".join(errors))
    seen, twice = set(), []
    for name, _ in pairs:
        if name in seen:
            twice.append(name)
        seen.add(name)
    if twice:
        raise ValidationError(f"{', '.join(sorted(set(twice)))}: given more than once")
    return pairs


def masked_lines(values: dict[str, str], secret_names: set[str]) -> str:
    return "\n".join(f"{name}={PLACEHOLDER if name in secret_names else value}" for name, value in values.items())


class ParameterValuesWidget(TypedValueMixin, forms.Textarea):
    """Shows NAME=value lines; the stored value of a secret parameter only as ********. A form
    that comes back with errors shows the lines exactly as they were just typed."""

    secret_names: set[str] = set()

    def format_value(self, value):
        if self._typed is not None:
            return self._typed
        text = super().format_value(value) or ""
        lines = []
        for line in text.splitlines():
            name, sep, rest = line.partition("=")
            if sep and name.strip() in self.secret_names and rest.strip():
                line = f"{name.strip()}={PLACEHOLDER}"
            lines.append(line)
        return "\n".join(lines)


class ParameterValuesField(forms.CharField):
    """The attachment's values edited as text; the model keeps them as (encrypted) JSON."""

    widget = ParameterValuesWidget

    def __init__(self, **kwargs):
        kwargs.pop("max_length", None)
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)
        self.secret_names: set[str] = set()

    def prepare_value(self, value):
        # The model's value is JSON; a bound form's value is already text.
        if isinstance(value, str) and value.startswith("{"):
            try:
                values = json.loads(value)
            except ValueError:
                values = None
            if isinstance(values, dict):
                return masked_lines({str(k): str(v) for k, v in values.items()}, self.secret_names)
        return value or ""

    def has_changed(self, initial, data):
        normalise = lambda text: [line.strip() for line in (text or "").splitlines() if line.strip()]  # noqa: E731
        return normalise(self.prepare_value(initial)) != normalise(data)


VALUES_HELP = (
    "One NAME=value per line, for the script's declared parameters only. Empty: the parameter's "
    f"default. A secret value is never shown: {PLACEHOLDER} (or an empty value) keeps the stored one; "
    "delete its line to remove it."
)


class HookAttachmentForm(forms.ModelForm):
    parameter_values = ParameterValuesField(
        label="parameter values",
        help_text=VALUES_HELP,
        widget=ParameterValuesWidget(attrs={"rows": 3, "cols": 28, "style": MONOSPACE, "spellcheck": "false"}),
    )

    class Meta:
        model = HookAttachment
        fields = ["script", "hook_type", "order", "enabled", "timeout", "on_failure", "run_on", "parameter_values"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "parameter_values" in self.fields:
            secret = _secret_names(self.instance.script_id, self._submitted_script_id())
            field = self.fields["parameter_values"]
            field.secret_names = field.widget.secret_names = secret
        helps = {
            "on_failure": "pre: fail (default), continue, skip · post: fail, continue (default)",
            "run_on": "post-backup only (default always)",
        }
        for name, text in helps.items():
            if name in self.fields:
                self.fields[name].help_text = text

    def _submitted_script_id(self):
        if not self.is_bound:
            return None
        value = self.data.get(self.add_prefix("script"))
        return int(value) if value and str(value).isdigit() else None

    def clean_parameter_values(self):
        pairs = parse_value_lines(self.cleaned_data.get("parameter_values") or "")
        stored = self.instance.values() if self.instance.pk else {}
        secret = self.fields["parameter_values"].secret_names
        values, errors = {}, []
        for name, value in pairs:
            if name in secret and value in ("", PLACEHOLDER):
                if name in stored:
                    values[name] = stored[name]  # unchanged: keep the stored secret
                elif value == PLACEHOLDER:
                    errors.append(f"{name}: type the secret value (it is never shown back)")
            elif value != "":
                values[name] = value
        if errors:
            raise ValidationError("; ".join(errors))
        return json.dumps(values, sort_keys=True) if values else ""


# --- legacy inline repository hooks -----------------------------------------------------------

INLINE_HOOK_FIELDS = ["pre_backup_script", "post_backup_script"]
NOT_APPROVED = "backups refuse to run it until a reviewer (with the approve permission) approves it"


class InlineHookFieldsMixin:
    """For the repository form: the legacy inline hooks in a monospace editor, each with its
    review state under it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        repository = self.instance
        for name, hook_type in zip(INLINE_HOOK_FIELDS, HookType.values, strict=True):
            if name not in self.fields:
                continue
            field = self.fields[name]
            field.widget = CodeEditor(rows=8)
            field.strip = False  # hashed for review: kept exactly
            if not repository.pk or not getattr(repository, name).strip():
                state = "Saving by a reviewer approves it; otherwise a reviewer must."
            elif repository.inline_hook_approved(hook_type):
                state = "Review: approved."
            else:
                state = f"Review: NOT APPROVED — {NOT_APPROVED}: a reviewer saves this page."
            field.help_text = f"{field.help_text} {state}".strip()

    def _inline_hook(self, name):
        return as_typed(self.cleaned_data.get(name) or "", getattr(self.instance, name) if self.instance.pk else "")

    def clean_pre_backup_script(self):
        return self._inline_hook("pre_backup_script")

    def clean_post_backup_script(self):
        return self._inline_hook("post_backup_script")


def approve_inline_hooks_on_save(request, repository) -> None:
    """Before a repository is saved from the admin: a reviewer's save approves its inline
    hooks (they saw them); anyone else's leaves changed ones unapproved, and says so."""
    if request.user.has_perm(APPROVE_PERMISSION):
        repository.approve_inline_hooks()
        return
    waiting = [
        f"{field} of {repository.name}"
        for field, hook_type in zip(INLINE_HOOK_FIELDS, HookType.values, strict=True)
        if getattr(repository, field).strip() and not repository.inline_hook_approved(hook_type)
    ]
    if waiting:
        messages.warning(
            request,
            f"{' and '.join(waiting)} {'is' if len(waiting) == 1 else 'are'} not approved: backups refuse "
            "to run it until a reviewer (with the approve permission) saves this repository.",
        )


# --- script tests ----------------------------------------------------------------------------


class ScriptTestForm(forms.Form):
    """What a test simulates: repository, hook type, backup status, parameter values."""

    repository = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="(none)",
        help_text="Its BORG_UI_REPOSITORY_* variables (and source host) are given to the script.",
    )
    hook_type = forms.ChoiceField(choices=HookType.choices, initial=HookType.PRE_BACKUP)
    backup_status = forms.ChoiceField(
        choices=[(s, s) for s in BACKUP_STATUSES],
        initial="success",
        label="Simulated backup status",
        help_text="BORG_UI_BACKUP_STATUS, for post-backup only.",
    )

    def __init__(self, script: Script, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.script = script
        self.fields["repository"].queryset = Repository.objects.order_by("name")
        self.parameters = list(script.parameters.all())
        for parameter in self.parameters:
            if parameter.secret:
                widget = SecretInput()
            else:
                widget = forms.TextInput(attrs={"placeholder": parameter.default, "style": MONOSPACE})
            hint = (
                "required"
                if parameter.required
                else (f"default: {parameter.default}" if not parameter.secret and parameter.default else "optional")
            )
            self.fields[f"param_{parameter.name}"] = forms.CharField(
                label=parameter.name,
                required=parameter.required,
                strip=False,
                widget=widget,
                help_text=" · ".join(
                    x for x in (parameter.description, hint, "secret" if parameter.secret else "") if x
                ),
            )

    def parameter_fields(self):
        return [self[f"param_{p.name}"] for p in self.parameters]

    def parameter_values(self) -> dict[str, str]:
        """Values typed (empty ones left out: the default applies), plus any ``param_*``
        posted for a parameter that no longer exists — the service refuses those."""
        values = {p.name: self.cleaned_data.get(f"param_{p.name}") or "" for p in self.parameters}
        for key in self.data:
            if key.startswith("param_") and key not in self.fields:
                values[key.removeprefix("param_")] = self.data[key]
        return {name: value for name, value in values.items() if value != ""}
