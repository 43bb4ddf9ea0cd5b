"""The project's exception hierarchy: every error a user can see derives from LingtingError."""


class LingtingError(Exception):
    """Base class of lingting's own errors; the message says what, where, and what to do."""


class ConfigError(LingtingError):
    """The configuration file or environment is invalid; the message names the key."""


class RuleError(ConfigError):
    """A brand rule (Boolean query) does not parse; the message names the brand and position."""
