"""The config types that channels and routes share: durations (``15m``), time zones, secrets from the environment
(``${VAR}`` or ``<field>_env: VAR``), the retry policy and rate limits."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from schemas.settings import AtLeastOne

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"500ms"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    raise ValueError(f"not a duration: {value!r} (write seconds, or e.g. 30s, 15m, 2h)")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
    return value


#: An IANA zone name, checked when the config loads rather than when the first alert or report needs it.
TimeZone = Annotated[str, AfterValidator(_time_zone)]


def expand_env(value: Any) -> Any:
    """Replace ``${VAR}`` with the environment variable; a missing variable is a config error."""
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def env_keys_to_refs(data: Any, fields: tuple[str, ...]) -> Any:
    """``secret_env: NAME`` → ``secret: ${NAME}`` (expanded, with a clear error, by the field validator)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for f in fields:
        env_key = f"{f}_env"
        if env_key in data:
            name = data.pop(env_key)
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"{env_key} must be the name of an environment variable, got {name!r}")
            if data.get(f) is not None:
                raise ValueError(f"set either {f} or {env_key}, not both")
            data[f] = f"${{{name}}}"
    return data


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter; a delivery is given up (status ``failed``) after ``give_up_after``."""

    model_config = ConfigDict(extra="forbid")

    initial_delay: Duration = 1.0
    max_delay: Duration = 60.0
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.25, ge=0.0, le=1.0, description="±fraction of each delay, random.")
    give_up_after: Duration = Field(default=6 * 3600.0, description="Stop retrying a delivery after this long.")
    timeout: Duration = Field(default=10.0, description="Per request (HTTP) or per SMTP session.")


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: AtLeastOne
    per: Duration = Field(default=60.0, gt=0)
