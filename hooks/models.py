"""Models of the hooks app (added by their issues)."""
