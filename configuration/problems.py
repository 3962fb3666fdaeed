"""What is wrong with a configuration: problems with the key path they belong to."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # plans[0].hooks.pre-backup[1].on_failure, or the file name for file-level problems
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration is refused as a whole; nothing was changed."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def key_path(base: str, key) -> str:
    return f"{base}.{key}" if base else str(key)


def index_path(base: str, index: int) -> str:
    return f"{base}[{index}]"
