"""Authentication backend: Django's ModelBackend, with users and permissions read from this process's cache.

`providers.core.cached` keys them on the freshness number, so a changed role, a removed permission or a
deactivated account counts from the next request on, in every process.
"""

from django.contrib.auth.backends import ModelBackend

from providers.core import cached


class RoleBackend(ModelBackend):
    def get_user(self, user_id):
        user = cached.user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = cached.permissions(user_obj)
        return user_obj._perm_cache
