"""The one exception type that the command line turns into a one-line error."""

from pathlib import Path


class CasestudyError(Exception):
    """Bad input or a refused operation: names the file (if any) and the problem."""

    def __init__(self, problem: str, path: "str | Path | None" = None):
        self.problem = problem
        self.path = str(path) if path is not None else None
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem
