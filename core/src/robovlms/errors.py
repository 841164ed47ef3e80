"""Errors that reach users.

Every mistake a user can make (a bad config, an unknown or broken plugin, a wrong image) raises a
subclass of :class:`RoboVLMsError`. The CLI prints these as one line each and exits without a
traceback; anything else that escapes is a bug in robovlms and keeps its traceback.
"""

from __future__ import annotations

#: the most characters of a user's own input that an error line repeats
ECHO = 200


def shown(value: object) -> str:
    """``repr(value)``, cut to :data:`ECHO` characters: a message repeats what it is about, briefly."""
    text = repr(value)
    return text if len(text) <= ECHO else text[: ECHO - 3] + "..."


def check_range(value: int, name: str, low: int, high: int, error: type[Exception] | None = None) -> int:
    """``value`` if ``low <= value <= high``, else a one-line ``error`` that names the setting and the range."""
    if not low <= value <= high:
        raise (error or RoboVLMsError)(f"{name}: expected {low} to {high}, got {value}")
    return value


class RoboVLMsError(Exception):
    """A user-facing error whose message is complete on its own; the CLI exits with status 2."""

    exit_code = 2


def first_line(exc: BaseException, *, with_type: bool = False) -> str:
    """The first non-blank line of a library's exception, for messages that must stay on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if with_type else lines[0]


class ConfigError(RoboVLMsError):
    """One or more problems in a config; each problem is one line that names its dotted key."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class PluginError(RoboVLMsError):
    """A plugin cannot be used: unknown name, broken distribution, or a contract violation."""


class InputError(RoboVLMsError, ValueError):
    """Data handed to a model or policy has the wrong shape, dtype or content."""


class CheckpointError(RoboVLMsError):
    """A checkpoint or model directory is missing, corrupt, or of another architecture."""


class TrainingError(RoboVLMsError):
    """A run that cannot go on: a non-finite loss or gradient."""


class ModelError(RoboVLMsError):
    """A loaded model that cannot give a usable answer (non-finite weights or statistics)."""


class DatasetError(RoboVLMsError):
    """A dataset folder that is missing, unreadable, or does not match its ``meta/info.json``."""
