"""The two roles, Admin and Member, as Django groups with the app's permissions."""

from django.contrib.auth.models import Group, Permission
from django.utils.translation import gettext_lazy as _

ADMIN = "Admin"
MEMBER = "Member"
ROLE_LABELS = {ADMIN: _("Admin"), MEMBER: _("Member")}
ROLE_PERMISSIONS = {
    ADMIN: ["manage_providers", "manage_people", "use_playground"],
    MEMBER: ["use_playground"],
}
MANAGE_PROVIDERS = "providers.manage_providers"
MANAGE_PEOPLE = "providers.manage_people"
USE_PLAYGROUND = "providers.use_playground"


def ensure_roles():
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="providers", codename__in=codenames)
        group.permissions.set(perms)


def ensure_roles_after_migrate(**kwargs):
    ensure_roles()


def set_role(user, role):
    ensure_roles()
    user.groups.set([Group.objects.get(name=role)])


def role_of(user):
    names = {g.name for g in user.groups.all()}
    if ADMIN in names:
        return ADMIN
    return MEMBER if MEMBER in names else ""


def active_admin_count(exclude=None):
    from django.contrib.auth import get_user_model

    qs = get_user_model().objects.filter(is_active=True, groups__name=ADMIN)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.distinct().count()
