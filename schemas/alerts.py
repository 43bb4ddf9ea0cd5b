"""Wire model of a crisis alert (topic ``lingting.alerts``, index alias ``lingting-alerts``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
AlertStatus = Literal["open", "update", "resolved"]
#: Severities in order, for "at least this severe" (routes, quiet hours, escalation).
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class TopTerm(BaseModel):
    term: str
    count: int = Field(ge=0)
    lift: float = Field(default=0.0, description="How much more often than in the brand's baseline vocabulary.")


class TopAuthor(BaseModel):
    id: str | None = None
    name: str | None = None
    followers: int = 0
    posts: int = 0
    engagement: int = 0
    influence: float = 0.0


class SamplePost(BaseModel):
    platform: str
    id: str
    text: str
    url: str | None = None
    author_name: str | None = None
    followers: int = 0
    reposts: int = 0
    created_at: AwareDatetime | None = None
    sentiment: float | None = None


class Coordination(BaseModel):
    """Suspected coordinated posting (水军) seen in the window."""

    suspected: bool = False
    posts: int = 0
    accounts: int = 0
    share: float = 0.0
    reason: str = ""


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(description="Stable crisis id: brand + crisis start; all states of one crisis share it.")
    brand: str
    severity: Severity
    status: AlertStatus
    sequence: int = Field(default=0, ge=0, description="0 for open, +1 for each update/resolve of the same crisis.")
    window_start: AwareDatetime
    window_end: AwareDatetime
    crisis_start: AwareDatetime | None = None
    observed: float = Field(description="Negative mentions (stories) in the window.")
    expected: float = Field(description="What the baseline expected for this window.")
    score: float = Field(ge=0.0, le=1.0, description="How unusual the window is, 0..1.")
    total: int = 0
    negative_share: float = 0.0
    expected_negative_share: float = 0.0
    growth: float = Field(default=0.0, description="Ratio of this window's negatives to the previous window's.")
    reach: int = 0
    engagement: int = 0
    top_terms: list[TopTerm] = Field(default_factory=list)
    top_authors: list[TopAuthor] = Field(default_factory=list)
    sample_posts: list[SamplePost] = Field(default_factory=list)
    coordination: Coordination = Field(default_factory=Coordination)
    summary: str = ""
    created_at: AwareDatetime | None = None

    @property
    def delivery_key(self) -> str:
        """Idempotency key of one alert state change (for notifications)."""
        return f"{self.id}:{self.status}:{self.sequence}"
