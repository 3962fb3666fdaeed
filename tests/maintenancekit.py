"""Helpers for maintenance tests: damaged repositories, a JSON receiver channel for check/verify."""

from pathlib import Path


def corrupt_largest_segment(repository_path: Path, offset_fraction: float = 0.5, length: int = 16) -> Path:
    """Flip bytes in the middle of the repository's largest data segment (the file chunks)."""
    segments = [p for p in (repository_path / "data").rglob("*") if p.is_file() and p.name.isdigit()]
    segment = max(segments, key=lambda p: p.stat().st_size)
    with open(segment, "r+b") as f:
        f.seek(int(segment.stat().st_size * offset_fraction))
        original = f.read(length)
        f.seek(-len(original), 1)
        f.write(bytes(b ^ 0xFF for b in original))
    return segment


def job_of(kind: str, **filters):
    from maintenance.models import MaintenanceJob

    return MaintenanceJob.objects.filter(kind=kind, **filters).order_by("-id").first()
