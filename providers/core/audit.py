"""The audit trail: who did what to which object, from where, and which fields changed (never a secret's value)."""

from providers.models import AuditEntry

SECRET_FIELDS = {"api_token"}


def client_ip(request):
    return request.META.get("REMOTE_ADDR") or None


def describe(field, before, after):
    if field in SECRET_FIELDS:
        return "token replaced" if after else "token removed"
    return {"from": before, "to": after}


def record(request, action, target=None, changes=None):
    user = getattr(request, "user", None)
    actor = user if user is not None and user.is_authenticated else None
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        ip=client_ip(request) if request is not None else None,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        changes=changes or {},
    )


def field_changes(before, instance, fields):
    """{field: {"from", "to"}} for the fields whose value differs, secrets summarised."""
    changes = {}
    for name in fields:
        old = before.get(name)
        new = getattr(instance, f"{name}_last4", None) if name in SECRET_FIELDS else getattr(instance, name)
        if name in SECRET_FIELDS:
            changes[name] = describe(name, None, new)
        elif old != new:
            changes[name] = describe(name, old, new)
    return changes


def snapshot(instance, fields):
    return {name: getattr(instance, name) for name in fields if name not in SECRET_FIELDS}
