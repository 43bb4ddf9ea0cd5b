"""The project's exception hierarchy: every error a user can see derives from LingtingError."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class LingtingError(Exception):
    """Base class of lingting's own errors; the message says what, where, and what to do."""


class ConfigError(LingtingError):
    """The configuration file or environment is invalid; the message names the key."""


class RuleError(ConfigError):
    """A brand rule (Boolean query) does not parse; the message names the brand and position."""


def key_path(loc: tuple[Any, ...], top: str = "(top level)") -> str:
    """A pydantic error location as the key a user writes: ``brands[0].detection.window_seconds``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or top


def validation_problems(err: ValidationError, *, limit: int | None = None, top: str = "(top level)") -> list[str]:
    """Each problem of ``err`` as ``key: message`` (the first ``limit``), naming ``top`` for the whole object.
    A check of the whole object names the keys it is about in its own message, so that message stands alone."""
    out = []
    for e in err.errors()[:limit]:
        if e["type"] == "value_error":  # our own ValueError: its text, without pydantic's "Value error, "
            msg = str(e.get("ctx", {}).get("error", e["msg"]))
            out.append(f"{key_path(e['loc'])}: {msg}" if e["loc"] else msg)
        else:
            out.append(f"{key_path(e['loc'], top)}: {e['msg']}")
    return out


def validation_summary(err: ValidationError, *, limit: int | None = 5, top: str = "(top level)") -> str:
    """The problems of ``err`` on one line (for a per-item error, a log line or a dead letter)."""
    return "; ".join(validation_problems(err, limit=limit, top=top))
