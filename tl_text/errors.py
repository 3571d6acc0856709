"""Errors that tl_text reports to users (the CLI prints them and exits non-zero)."""


class TlTextError(Exception):
    """Base class for errors with a user-facing message."""


class DataError(TlTextError, ValueError):
    """Bad or missing input data; the message names the file and line (or archive member)."""

    def __init__(self, source, problem: str, line: int | None = None, field: str | None = None):
        where = str(source)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.source, self.line, self.field = source, line, field


class ConfigError(TlTextError, ValueError):
    """An impossible combination of options."""
