from django.conf import settings


def sign_in(request):
    """What the login page offers besides the password."""
    return {"oidc_enabled": settings.BORGUI_OIDC_ENABLED, "oidc_provider_name": settings.BORGUI_OIDC_PROVIDER_NAME}
