"""Forms of the key pages: a new key, and an admin's limits for one key."""

from django import forms
from django.utils.translation import gettext_lazy as _

from providers.core.parameters import name_error

MAX_EXPIRY_DAYS = 3650
MAX_LIMIT = 100_000


class NewKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the key is for, e.g. the script or tool that uses it.")
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days)"),
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        help_text=_("Leave empty for a key that does not expire."),
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the key a name."))
        name_error(name)  # the same rule as every other name: no NUL, no direction controls
        return name


class KeyLimitsForm(forms.Form):
    requests_per_minute = forms.IntegerField(
        label=_("Requests per minute"), required=False, min_value=0, max_value=MAX_LIMIT
    )
    max_streams = forms.IntegerField(label=_("Open streams"), required=False, min_value=0, max_value=MAX_LIMIT)
