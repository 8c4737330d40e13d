"""The stable id a configured model has in the API: chosen once from its display name, never changed after."""

from django.utils.text import slugify


def unique_api_id(display_name, others):
    """A slug of the display name not used by any row of `others` (a queryset of the other models)."""
    base = slugify(display_name)[:90] or "model"
    taken = set(others.filter(api_id__startswith=base).values_list("api_id", flat=True))
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def assign_api_id(sender, instance, **kwargs):
    if not instance.api_id:
        instance.api_id = unique_api_id(instance.display_name, sender.objects.exclude(pk=instance.pk))
