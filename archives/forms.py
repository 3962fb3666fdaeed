from django import forms

from repositories.models import SSHConnection


class RestoreForm(forms.Form):
    # Restore to a source host (docs/remote-sources.md): the target is on that machine.
    target_connection = forms.ModelChoiceField(
        SSHConnection.objects.order_by("name"), required=False, empty_label="this machine (the worker's)",
        label="Target host", help_text="Where the target directory is: here, or an SSH connection's machine.",
    )  # fmt: skip
    target = forms.CharField(max_length=4096, help_text="A new or empty directory on the target host.")
    strip_components = forms.IntegerField(min_value=0, initial=0, required=False)
    overwrite = forms.BooleanField(required=False, help_text="Replace existing files; nothing else is deleted.")
    dry_run = forms.BooleanField(required=False, help_text="List what would be restored; write nothing.")
    confirm_root = forms.CharField(required=False, label="Type / to confirm a restore to /")

    def restore_options(self) -> dict:
        data = self.cleaned_data
        return {
            "target": data["target"], "strip_components": data.get("strip_components") or 0,
            "overwrite": data["overwrite"], "dry_run": data["dry_run"], "confirmed_root": data["confirm_root"] == "/",
            "target_connection": data.get("target_connection"),
        }  # fmt: skip
