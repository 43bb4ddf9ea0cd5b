"""Detection settings: the ``detection:`` section of the config (and a brand's ``detection:`` overrides).

Every field has a default that works for 1-minute windows of a brand with a few to a few hundred mentions per
minute, and for the backtest of hourly / 5-minute / daily series. docs/detection.md explains how to tune them.
Counts ("windows") are in detector windows; durations in seconds are converted with the window length.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, model_validator

from schemas.settings import AtLeastOne

SEVERITIES = ("low", "medium", "high", "critical")


class DetectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- event-time windows -------------------------------------------------------------------------------
    window_seconds: AtLeastOne = Field(default=60, description="Length of a counting window.")
    allowed_lateness_seconds: NonNegativeInt = Field(
        default=45,
        description="Live: a window closes once the brand's event-time watermark passes its end by "
        "this much; later posts for it are dropped (and counted as late). Alerts wait "
        "for it: window + lateness is the alert delay.",
    )
    replay_lateness_seconds: NonNegativeInt = Field(
        default=1800,
        description="The same while the brand's posts are a replay (a backlog or backfill, "
        "read through several partitions that advance at different speeds).",
    )
    replay_after_seconds: AtLeastOne = Field(
        default=300, description="A post processed this long after it was published is a replay."
    )
    replay_idle_seconds: AtLeastOne = Field(
        default=60,
        description="A replay's partition that delivered none of the brand's posts for this long "
        "(processing time), or a brand quiet this long, has drained: the watermark "
        "stops waiting for it.",
    )
    replay_grace_seconds: NonNegativeInt = Field(
        default=180,
        description="For this long (processing time) after a replay starts, the partitions that "
        "have not delivered yet are unknown (a rebalance can delay one): the "
        "watermark is held at the replay's oldest post.",
    )
    replay_hold_max_seconds: NonNegativeInt = Field(
        default=10800,
        description="The furthest a replay's slowest partition holds the watermark behind the "
        "newest post (bounds the windows kept open during a long backfill).",
    )
    replay_hold_max_entries: NonNegativeInt = Field(
        default=20000,
        description="... and it stops holding once the open windows hold this many table "
        "entries (terms, authors, stories; ~30 bytes each in the persisted state, "
        "which is one Kafka record of at most 1 MB).",
    )
    max_future_seconds: NonNegativeInt = Field(
        default=300,
        description="Posts dated further than this after their processing time are treated "
        "as published at processing time (clock skew must not close windows).",
    )

    # --- baseline ------------------------------------------------------------------------------------------
    warmup_windows: AtLeastOne = Field(default=20, description="No alert before this many windows were seen.")
    level_halflife_seconds: AtLeastOne = Field(default=1800, description="Memory of the brand's normal level.")
    level_halflife_min_windows: AtLeastOne = Field(default=12, description="... but at least this many windows.")
    dispersion_halflife_windows: int = Field(default=300, ge=2, description="Memory of the noise estimate.")
    prior_dispersion: float = Field(
        default=2.0, ge=1.0, description="Noise (× Poisson) assumed before data: conservative during warm-up."
    )
    share_halflife_seconds: AtLeastOne = Field(default=21600, description="Memory of the usual negative share.")
    prior_negative_share: float = Field(default=0.15, gt=0.0, lt=1.0)
    daily_seasonality: bool = Field(default=True, description="Learn the hour-of-day rhythm (sub-daily windows).")
    weekly_seasonality: bool = Field(default=True, description="Learn the day-of-week rhythm (windows ≤ 1 day).")
    season_halflife_cycles: PositiveFloat = Field(default=7.0, description="Memory of the rhythm, in days/weeks.")
    clip_sigma: PositiveFloat = Field(
        default=3.0,
        description="Observations are clipped to expected ± this many sigmas before the baseline learns from them.",
    )
    outage_min_expected: PositiveFloat = Field(
        default=4.0,
        description="A zero window where at least this many mentions were expected is a "
        "source outage: it neither alerts nor teaches the baseline.",
    )

    level_shift_seconds: AtLeastOne = Field(
        default=21600,
        description="A level shift that lasted this long (every window off the level on the "
        "same side) becomes the new normal.",
    )
    level_shift_min_windows: int = Field(default=12, ge=2, description="... but at least this many windows.")
    calibration_halflife_windows: int = Field(
        default=4000,
        ge=10,
        description="Memory of the series' own tail of z (peaks over threshold), which turns "
        "z into the calibrated tail probability behind anomaly_score.",
    )

    # --- metrics (a backtest series that is not a count) --------------------------------------------------
    novelty_warmup_windows: int = Field(
        default=200, ge=2, description="A metric's range novelty (anomaly_score) counts after this many windows."
    )
    onset_refractory_windows: NonNegativeInt = Field(
        default=100,
        description="After a reported onset (score ≥ onset_report_score) or an alert, windows "
        "that would report again score a quarter: one excursion, one detection.",
    )
    onset_report_score: float = Field(
        default=0.3, gt=0, lt=1, description="Score from which a window reports an onset."
    )
    novelty_z_score: float = Field(
        default=0.95, gt=0, le=1, description="A metric's z score counts beside the range novelty from here."
    )

    # --- score, severity, minimum volumes -----------------------------------------------------------------
    threshold_low: PositiveFloat = Field(default=4.0, description="Score (robust z) that opens a crisis.")
    threshold_medium: PositiveFloat = 6.0
    threshold_high: PositiveFloat = 9.0
    threshold_critical: PositiveFloat = 14.0
    scale_thresholds: bool = Field(
        default=True,
        description="The thresholds are for windows of up to 5 minutes; longer windows give fewer "
        "chances per week to cry wolf, so they are lowered (0.89× at 15 minutes, "
        "0.75× at an hour and beyond), keeping false alerts per brand-week level.",
    )
    min_negative: NonNegativeInt = Field(default=5, description="Fewest negative stories in a window to alert.")
    min_total: NonNegativeInt = Field(
        default=10,
        description="Fewest mentions in a window to alert (volume-only "
        "mode, i.e. a backtest series without negatives).",
    )
    min_ratio: float = Field(default=1.5, ge=1.0, description="Observed must be at least this × expected.")
    min_share_lift: float = Field(
        default=1.3, ge=1.0, description="Negative share must be at least this × the usual share."
    )

    # --- crisis life cycle (hysteresis) -------------------------------------------------------------------
    open_windows: AtLeastOne = Field(default=1, description="Consecutive anomalous windows that open a crisis.")
    update_growth: float = Field(
        default=1.5, gt=1.0, description="An update is sent when negatives reach this × the last alerted level, ..."
    )
    update_min_windows: AtLeastOne = Field(default=3, description="... or severity rises, at most this often.")
    resolve_threshold: NonNegativeFloat = Field(default=2.0, description="A window scoring below this is calm.")
    resolve_windows: AtLeastOne = Field(default=5, description="Consecutive calm windows that resolve a crisis.")
    cooldown_seconds: NonNegativeInt = Field(
        default=1800, description="After a crisis resolves, a new one opens only if more severe than its peak."
    )

    # --- stories (reposts, near duplicates) ---------------------------------------------------------------
    near_duplicate_bits: int = Field(
        default=10, ge=0, le=24, description="SimHash distance (of 64 bits) within which texts are one story."
    )
    story_memory: int = Field(default=1000, ge=10, description="Stories kept in memory per brand.")
    story_state: NonNegativeInt = Field(default=300, description="Most recent stories kept in the saved state.")
    story_ttl_seconds: int = Field(default=21600, ge=60, description="A story nobody touched for this long ends.")

    # --- coordinated posting (水军) ------------------------------------------------------------------------
    coordination_min_posts: int = Field(default=10, ge=2, description="Near-identical posts in a window ...")
    coordination_min_accounts: int = Field(default=5, ge=2, description="... from at least this many accounts")
    coordination_young_days: NonNegativeInt = Field(default=30, description="... mostly younger than this ...")
    coordination_low_followers: NonNegativeInt = Field(default=100, description="... with fewer followers than this")
    coordination_min_share: float = Field(default=0.6, gt=0, le=1, description="... (share of those posts).")

    # --- explanations -------------------------------------------------------------------------------------
    top_terms: NonNegativeInt = 8
    top_authors: NonNegativeInt = 5
    sample_posts: NonNegativeInt = 3
    vocabulary_size: int = Field(default=500, ge=10, description="Terms of the brand's baseline vocabulary kept.")
    vocabulary_halflife_windows: AtLeastOne = 1440
    max_terms_per_window: int = Field(default=1500, ge=10)
    max_authors_per_window: int = Field(default=300, ge=10)

    @model_validator(mode="after")
    def _thresholds_increase(self) -> DetectionSettings:
        values = [self.threshold_low, self.threshold_medium, self.threshold_high, self.threshold_critical]
        if values != sorted(values):
            raise ValueError("threshold_low ≤ threshold_medium ≤ threshold_high ≤ threshold_critical must hold")
        if self.resolve_threshold > self.threshold_low:
            raise ValueError("resolve_threshold must not exceed threshold_low")
        return self

    def thresholds(self) -> list[tuple[str, float]]:
        """(severity, threshold) from the highest down."""
        return [
            ("critical", self.threshold_critical),
            ("high", self.threshold_high),
            ("medium", self.threshold_medium),
            ("low", self.threshold_low),
        ]
