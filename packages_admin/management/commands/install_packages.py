"""``manage.py install_packages NAME…`` and ``install_packages --missing`` (docs/commands.md#install_packages).

Installs in the foreground, recording each package exactly as the admin does and printing
apt's output as it comes. Exit codes: 0 all installed, 1 an install failed, 2 an invalid
name or usage (then nothing has run).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from packages_admin import services
from packages_admin.models import PackageInstall
from packages_admin.validators import parse_package_spec


class Command(BaseCommand):
    help = (
        "Install Debian packages now (recorded like the admin's Packages page), or with --missing "
        "reinstall every recorded package that dpkg-query does not show installed. "
        "Names that start with '-' must follow '--'."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", metavar="NAME", help="package name, optionally NAME=VERSION")
        parser.add_argument(
            "--missing",
            action="store_true",
            help="reinstall recorded packages that are not installed (run by the image's entrypoint)",
        )

    def handle(self, *args, names: list[str], missing: bool, **options):
        if names and missing:
            raise CommandError("give package names or --missing, not both", returncode=2)
        if not names and not missing:
            raise CommandError("give one or more package names, or --missing", returncode=2)
        if missing:
            packages = self._missing()
        else:
            packages = [services.record_package(spec)[0] for spec in self._validated(names)]
        failed = []
        for package in packages:
            try:
                self._install(package)
            except Exception as e:  # one broken install must not stop the batch
                self.stderr.write(f"{package.name}: {type(e).__name__}: {e}")
                package.status = PackageInstall.Status.FAILED
            if package.status != PackageInstall.Status.INSTALLED:
                failed.append(package.name)
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(packages)} package(s) failed to install: {', '.join(failed)}", returncode=1
            )

    def _validated(self, names: list[str]) -> list[str]:
        """Every name checked before anything runs; duplicates dropped, order kept."""
        specs: list[str] = []
        for name in names:
            try:
                parse_package_spec(name)
            except ValidationError as e:
                raise CommandError(f"invalid package name: {e.messages[0]}", returncode=2) from e
            if name not in specs:
                specs.append(name)
        return specs

    def _missing(self) -> list[PackageInstall]:
        packages = list(PackageInstall.objects.defer("log").order_by("name"))
        if not packages:
            self.stdout.write("no packages recorded")
        missing = []
        for package in packages:
            version = services.installed_version(package.name)
            if services.is_satisfied(package.name, version):
                self.stdout.write(f"{package.name}: installed ({version})")
                if package.status != PackageInstall.Status.INSTALLED or package.installed_version != version:
                    services.refresh_status(package)
            else:
                self.stdout.write(f"{package.name}: not installed, reinstalling")
                missing.append(package)
        return missing

    def _install(self, package: PackageInstall) -> None:
        self.stdout.write(f"==> {package.name}: installing")
        self.stdout.flush()

        def echo(text: str) -> None:
            self.stdout.write(text, ending="")
            self.stdout.flush()

        services.install(package, echo=echo)
        if package.status == PackageInstall.Status.INSTALLED:
            self.stdout.write(f"==> {package.name}: installed {package.installed_version}")
        else:
            code = "" if package.exit_code is None else f" (exit code {package.exit_code})"
            self.stdout.write(f"==> {package.name}: failed{code}")
