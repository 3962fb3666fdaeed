"""django-q2 tasks of the packages app: they run on the worker, where hooks run."""

import logging

from packages_admin import services
from packages_admin.models import PackageInstall

logger = logging.getLogger(__name__)


def install_package(package_id: int) -> str:
    """Install one recorded package (queued by the admin, ``apply_config``…); returns its final status."""
    package = PackageInstall.objects.filter(pk=package_id).first()
    if package is None:
        logger.info("package %s was removed from the list before its install ran", package_id)
        return "removed"
    return services.install(package).status


def refresh_packages(package_ids: list[int]) -> str:
    """Refresh the status of recorded packages from this worker's dpkg (the admin's action)."""
    results = [services.refresh_status(package) for package in PackageInstall.objects.filter(pk__in=package_ids)]
    return f"{results.count(True)} installed, {results.count(False)} not installed, {results.count(None)} busy"
