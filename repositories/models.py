"""Models of the repositories app (added by their issues)."""
