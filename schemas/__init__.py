"""The only definition of each message lingting puts on the wire."""

from schemas.alerts import Alert, AlertStatus, Coordination, SamplePost, Severity, TopAuthor, TopTerm
from schemas.deadletter import DeadLetter
from schemas.errors import ConfigError, LingtingError, RuleError
from schemas.posts import Author, EnrichedPost, Metrics, RawPost, Sentiment, utc_now

__all__ = [
    "Alert",
    "AlertStatus",
    "Author",
    "ConfigError",
    "Coordination",
    "DeadLetter",
    "EnrichedPost",
    "LingtingError",
    "Metrics",
    "RawPost",
    "RuleError",
    "SamplePost",
    "Sentiment",
    "Severity",
    "TopAuthor",
    "TopTerm",
    "utc_now",
]
