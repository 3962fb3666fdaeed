"""Models of the packages_admin app (added by their issues)."""
