"""The admin's rule for the staff API: a staff user with the model's permission."""

from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import DjangoModelPermissions

VIEW = ["%(app_label)s.view_%(model_name)s"]


class StaffModelPermissions(DjangoModelPermissions):
    """As the admin: staff only, and reading needs `view_<model>` (DRF's own class lets
    any user read). Superusers have every permission; a staff user in no group has none."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": VIEW, "HEAD": VIEW, "OPTIONS": VIEW}

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            scheme = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[0]
            if scheme.lower() == "bearer":  # an agent's or the organisation's API key
                raise NotAuthenticated(
                    "The staff API does not take API keys (Bearer); send a staff user's "
                    "token as `Authorization: Token <key>`."
                )
            return False  # DRF answers "Authentication credentials were not provided."
        if not user.is_staff:
            raise PermissionDenied("The staff API needs a user with staff status.")
        if super().has_permission(request, view):
            return True
        model = self._queryset(view).model
        needed = ", ".join(self.get_required_permissions(request.method, model))
        raise PermissionDenied(
            f"This needs the permission {needed}; ask an administrator for a group that has "
            "it (Viewers read everything, as in the admin)."
        )
