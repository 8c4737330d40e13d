"""What the playground's code snippets need: the API's address and each enabled model's API id."""

from django import template
from django.urls import reverse

from providers.models import HFModel

register = template.Library()


@register.simple_tag(takes_context=True)
def api_snippet_data(context):
    request = context["request"]
    models = HFModel.objects.filter(enabled=True).values_list("pk", "api_id", "task")
    return {
        "base": request.build_absolute_uri("/v1"),
        "models": {str(pk): {"id": api_id, "chat": task == "chat", "task": task} for pk, api_id, task in models},
        "account": reverse("account"),
    }
