"""Every setting of the service, its default, and how it is read from the environment.

One prefix (``MODERATION_``) for all of them. ``python -m config`` prints the table
that the README carries; a test checks that the two agree.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limits import RateLimitItem, parse_many

PREFIX = "MODERATION_"

DETOXIFY_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")
# The English model this project trains and ships (workers/toxicity/shipped.py): it needs
# no download, so it is the default.
SHIPPED_TOXICITY_MODEL = "minilm-toxic-en"
# The multilingual model Vietnamese comments are scored with (docs/models.md)
SHIPPED_VI_TOXICITY_MODEL = "e5-toxic-multi"
TOXICITY_MODELS = (SHIPPED_TOXICITY_MODEL, *DETOXIFY_MODELS)


class SettingsError(ValueError):
    """A setting from the environment could not be understood."""


def _setting(default: Any, doc: str, parse: Callable[[str], Any] | None = None) -> Any:
    metadata = {"doc": doc, "parse": parse}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"expected a boolean (true/false), got {raw!r}")


def parse_bands(raw: str) -> dict[str, tuple[float, float]]:
    """Parse ``label=low:high,label=low:high`` into per-label threshold bands."""
    bands: dict[str, tuple[float, float]] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            label, band = part.split("=", 1)
            low_s, high_s = band.split(":", 1)
            low, high = float(low_s), float(high_s)
        except ValueError as exc:
            raise SettingsError(f"expected label=low:high, got {part!r}") from exc
        if not 0.0 <= low <= high <= 1.0:
            raise SettingsError(f"{label}: need 0 <= low <= high <= 1, got {low}:{high}")
        bands[label.strip()] = (low, high)
    return bands


@functools.cache
def rate_limits(raw: str) -> tuple[RateLimitItem, ...]:
    """``20/hour;100/day`` as the ``limits`` library's items (empty: none)."""
    return tuple(parse_many(raw)) if raw.strip() else ()


def parse_list(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


DEFAULT_TOXICITY_BANDS = (
    # Chosen for the shipped model (minilm-toxic-en) on its validation split, with the
    # rates they give on its test split: docs/models.md (a test keeps them in step).
    # Between low and high a human decides; above high the machine rejects.
    "toxicity=0.936:0.987,severe_toxicity=0.041:0.146,obscene=0.178:0.563,"
    "threat=0.087:0.147,insult=0.279:0.635,identity_attack=0.223:0.419,"
    # labels the shipped model does not have (Detoxify's other models): judgement
    "identity_hate=0.25:0.80,sexual_explicit=0.40:0.90"
)

DEFAULT_VI_TOXICITY_BANDS = (
    # Chosen for the shipped Vietnamese model (e5-toxic-multi) on the hand-made dev set's
    # tune rows, by the rule in docs/models.md (a test keeps them in step with its
    # manifest). Conservative: a clean comment is approved only well below every edge, and
    # the model alone never rejects (0.999); certain lexicon entries do.
    "toxicity=0.666:0.999,severe_toxicity=0.012:0.999,obscene=0.039:0.999,"
    "threat=0.017:0.999,insult=0.131:0.999,identity_attack=0.041:0.999"
)


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with :meth:`from_env`."""

    # --- storage and transport
    database_url: str = _setting(
        "", "SQLAlchemy database URL. Empty: a SQLite file `moderation.sqlite3` in DATA_DIR."
    )
    data_dir: str = _setting("var", "Folder for the embedded SQLite database and beat state.")
    redis_url: str = _setting(
        "redis://127.0.0.1:6379/0", "Redis for rate/velocity/duplicate windows and dispatch marks."
    )
    broker_url: str = _setting("", "Celery broker URL. Empty: REDIS_URL.")
    visibility_timeout_s: int = _setting(
        900,
        "Seconds before Redis redelivers an unacknowledged task; longer than the slowest task "
        "with its retries.",
    )
    enqueue_timeout_s: float = _setting(
        1.0, "Seconds the API waits for the broker before leaving a comment to the sweeper."
    )
    enqueue_breaker_s: float = _setting(
        5.0, "After a failed enqueue, seconds the API skips the broker (the sweeper catches up)."
    )
    sweeper_interval_s: int = _setting(30, "How often beat runs the pending-comment sweeper.")
    sweeper_grace_s: int = _setting(
        30, "A pending comment with no live dispatch mark is re-enqueued after this many seconds."
    )
    hold_mark_ttl_s: int = _setting(
        30,
        "Seconds the dispatch mark of a message a worker has received outlives that worker: "
        "the worker renews it every third of this while it holds the message (queued in it, "
        "waiting for its countdown, or running), so a message lost with its worker is re-sent "
        "by the sweeper within about this plus SWEEPER_INTERVAL_S.",
    )
    sweeper_batch: int = _setting(500, "At most this many comments re-enqueued per sweep.")

    # --- HTTP API
    trusted_proxies: int = _setting(
        0,
        "Reverse proxies in front of the API whose X-Forwarded-For and X-Forwarded-Proto are "
        "believed (werkzeug's ProxyFix). 0: the caller's own address, for per-IP limits and logs.",
    )
    max_request_bytes: int = _setting(65536, "Largest request body accepted (413 above).")
    comment_min_chars: int = _setting(1, "Shortest comment body, after normalisation.")
    comment_max_chars: int = _setting(5000, "Longest comment body, after normalisation.")
    page_size: int = _setting(20, "Default page size of list endpoints.")
    page_size_max: int = _setting(100, "Largest page size a client may ask for.")
    replies_per_thread: int = _setting(
        50, "Approved replies embedded under each top-level comment in an article's list."
    )
    log_level: str = _setting("INFO", "Python log level.")
    log_format: str = _setting("json", "`json` (one object a line) or `text`.")
    public_url: str = _setting(
        "", "Base URL used in Location headers; empty: taken from the request."
    )

    # --- scoring pipeline
    toxicity_model: str = _setting(
        SHIPPED_TOXICITY_MODEL,
        f"`{SHIPPED_TOXICITY_MODEL}` (shipped, offline: docs/models.md) or a Detoxify model "
        "to download: original, unbiased, multilingual, original-small, unbiased-small "
        "(or any name when TOXICITY_CHECKPOINT is set).",
    )
    toxicity_checkpoint: str = _setting(
        "", "Local Detoxify checkpoint file (.ckpt); empty: the named model."
    )
    toxicity_checkpoint_sha256: str = _setting(
        "",
        "Expected SHA-256 of TOXICITY_CHECKPOINT; checked before loading (torch.load unpickles).",
    )
    toxicity_hf_config_path: str = _setting(
        "", "Local Hugging Face config/tokenizer folder for TOXICITY_CHECKPOINT."
    )
    toxicity_languages: tuple[str, ...] = _setting(
        (),
        "ISO 639-1 codes the model covers; empty: Detoxify's documented ones for the model.",
        parse_list,
    )
    models_dir: str = _setting(
        "models", "Where `moderation download-model` puts weights (torch hub and HF caches)."
    )
    toxicity_device: str = _setting("cpu", "torch device for Detoxify (cpu, cuda, cuda:1).")
    toxicity_threads: int = _setting(
        0, "torch threads per toxicity worker process; 0: cores / worker concurrency."
    )
    toxicity_nice: int = _setting(
        10,
        "Niceness added to each process that runs the toxicity model: on shared cores the "
        "API and the cheap stages go first, and the model scores what waits meanwhile in "
        "larger batches. 0: no change.",
    )
    toxicity_batch_size: int = _setting(
        128,
        "Most comments one toxicity task claims and scores together: every comment waiting "
        "when it starts, oldest first, up to this many (the more it sorts by length at "
        "once, the less padding; each model call is committed as soon as it is scored).",
    )
    toxicity_batch_tokens: int = _setting(
        1024,
        "Padded tokens per model call: a claimed batch, sorted by length, is cut into calls "
        "of at most this many tokens (comments x longest), so one long comment does not pad "
        "thirty short ones (measured: bench/README.md).",
    )
    toxicity_lease_s: int = _setting(
        30,
        "Seconds a toxicity task's claim on its batch lasts; renewed with every model call, "
        "so it must exceed the slowest one. The comments of a batch whose worker died are "
        "re-sent by the sweeper within about this plus SWEEPER_INTERVAL_S.",
    )
    toxicity_max_attempts: int = _setting(
        5, "Claims of one comment by a toxicity task before it is held as `scorer_failed`."
    )
    toxicity_bands: dict[str, tuple[float, float]] = _setting(
        parse_bands(DEFAULT_TOXICITY_BANDS),
        "Per-label `low:high` bands: approve below low, review between, reject at or above high.",
        parse_bands,
    )
    toxicity_model_vi: str = _setting(
        SHIPPED_VI_TOXICITY_MODEL,
        f"Model for comments routed as Vietnamese (with or without diacritics, or mixed with "
        f"English): `{SHIPPED_VI_TOXICITY_MODEL}` (shipped, offline: docs/models.md), or empty "
        "to hold them as `language_unsupported`.",
    )
    toxicity_bands_vi: dict[str, tuple[float, float]] = _setting(
        parse_bands(DEFAULT_VI_TOXICITY_BANDS),
        "Per-label `low:high` bands for TOXICITY_MODEL_VI's scores (conservative: "
        "cross-lingual scores are poorly calibrated; docs/models.md).",
        parse_bands,
    )
    spam_band: tuple[float, float] = _setting(
        # recommended by training/spam.py (docs/spam-classifier.md); retrain, then update
        (0.68, 0.99),
        "`low:high` for the combined spam probability.",
        lambda raw: parse_bands(f"spam={raw}")["spam"],
    )
    toxicity_quantize: bool = _setting(
        False,
        "Dynamic int8 quantisation of the model's linear layers (faster on CPU; measure "
        "its score drift on real weights before turning it on).",
    )
    min_words_for_language: int = _setting(
        3,
        "Texts with fewer words than this (and no Vietnamese letters) are too short to "
        "route by language: they are scored.",
    )
    vi_lexicon: bool = _setting(
        True,
        "Apply the default Vietnamese word list (service/policy/lexicon/vi.json: certain entries "
        "reject, suspect ones hold) under the site's own; a site's word rule overrides an entry, "
        "`allow` switches one off (docs/vi-lexicon.md).",
    )
    spam_allow_domains: tuple[str, ...] = _setting(
        (),
        "Link domains never counted as spam signals (the site's own), comma-separated.",
        parse_list,
    )
    spam_deny_domains: tuple[str, ...] = _setting(
        (), "Link domains that make a comment spam outright, comma-separated.", parse_list
    )
    spam_window_s: int = _setting(
        3600, "Window in which repeated (near-)identical texts count as duplicates."
    )
    spam_velocity_window_s: int = _setting(600, "Window of the author and IP velocity counters.")
    spam_author_velocity: int = _setting(
        5, "Comments by one author within the velocity window before it counts as a signal."
    )
    spam_ip_velocity: int = _setting(
        15, "Comments from one IP within the velocity window before it counts as a signal."
    )

    # --- moderation and webhooks
    queue_counts_ttl_s: float = _setting(
        5.0, "Seconds the review queue's per-status counts are cached (0: count every time)."
    )
    report_threshold: int = _setting(
        3,
        "Reports from different readers with standing (REPORTER_MIN_AGE_S) that send an "
        "approved comment back to review.",
    )
    reporter_min_age_s: int = _setting(
        86400,
        "A reader's reports count toward REPORT_THRESHOLD once their earliest approved "
        "comment or earliest report is at least this old, and they are not banned or "
        "`always_review`. 0: every reader counts. Other reports are kept for moderators.",
    )
    report_rate_per_ip: str = _setting(
        "60/hour",
        "Reports accepted from one IP (the body's `client_ip` when a site token is required, "
        "none if it is absent; else the caller's address), as `limits` strings (`N/minute`, "
        "`;` between several). Empty: no limit. Over it: 429.",
        parse=str.strip,
    )
    report_rate_per_reporter: str = _setting(
        "20/hour",
        "Reports accepted from one `reporter_id`, as REPORT_RATE_PER_IP. Empty: none.",
        parse=str.strip,
    )
    analyze_rate_per_key: str = _setting(
        "10/second",
        "Requests one `analyze` key may make to the Perspective-compatible endpoints, as "
        "`limits` strings (Perspective's own default quota was `1/second`). Empty: no limit. "
        "Over it: 429 RESOURCE_EXHAUSTED.",
        parse=str.strip,
    )
    analyze_timeout_s: float = _setting(
        5.0,
        "Seconds `comments:analyze` waits for a toxicity worker's scores before answering "
        "503 UNAVAILABLE (no worker running, or all of them busy loading the model).",
    )
    console_secret_key: str = _setting(
        "",
        "Key that signs the moderators' console session cookies. Empty: a random key kept in "
        "Redis, shared by every process using it.",
    )
    webhook_url: str = _setting("", "Site endpoint for comment status events; empty: none sent.")
    webhook_secret: str = _setting("", "HMAC-SHA256 key for the webhook signature header.")
    webhook_timeout_s: float = _setting(5.0, "HTTP timeout of one webhook delivery.")
    webhook_max_attempts: int = _setting(
        12, "Deliveries of one webhook event before it is marked failed."
    )
    webhook_retry_base_s: float = _setting(
        5.0, "First retry delay of a failed webhook; doubles each time, capped at 10 minutes."
    )
    webhook_allow_private: bool = _setting(
        False,
        "Let WEBHOOK_URL reach loopback, link-local, private and other non-public addresses "
        "(a site on the same private network). Off: such a URL is refused at start-up, and "
        "each delivery checks every address the host name resolves to.",
    )
    require_site_token: bool = _setting(
        False,
        "Require a `site` (or `admin`) bearer token to submit and report comments. Turn on in "
        "production (docker-compose does). Setting an article's policy needs a token always.",
    )
    ops_endpoints_open: bool = _setting(
        False,
        "Serve `/statusz` and `/metrics` without a token. Off: they need an `ops` (or "
        "`admin`) token. Turn on only where the API is reachable from a private network alone.",
    )
    spam_model_dir: str = _setting(
        "", "Folder of a retrained spam model (`moderation retrain-spam`); empty: the packaged one."
    )
    spam_labels_refresh_s: float = _setting(
        10.0, "How often each worker process applies new moderator spam/ham labels."
    )
    vi_labels_refresh_s: float = _setting(
        5.0, "How often each worker process applies new moderator labels on Vietnamese comments."
    )
    vi_labels_min_per_class: int = _setting(
        25,
        "Labels of each class (toxic, not) the Vietnamese learner needs before it is blended "
        "with the model's toxicity score.",
    )
    vi_labels_max_weight: float = _setting(
        0.5,
        "The most weight (0-1, in log-odds) the Vietnamese learner gets against the model; "
        "reached as its labels grow.",
    )

    # --- ops
    flower_basic_auth: str = _setting(
        "", "`user:password` for Flower's basic auth (comma-separated for several)."
    )
    default_concurrency: int = _setting(
        2, "Processes of the `default` queue's worker (Procfile and docker-compose)."
    )
    webhook_concurrency: int = _setting(
        4, "Processes of the `webhooks` queue's worker (Procfile and docker-compose)."
    )
    toxicity_concurrency: int = _setting(
        1,
        "Processes of the `toxicity` worker; torch threads are split between them.",
    )
    toxicity_prefetch: int = _setting(
        16,
        "Prefetch multiplier of the `toxicity` worker: messages it holds per process. Batches "
        "come from claims, not from held messages; a few in hand let the messages of "
        "comments already scored in a batch be passed over without a round trip each.",
    )
    flower_port: int = _setting(5555, "Flower's port under `make run`.")
    api_port: int = _setting(8000, "The API's port under `make run`.")

    # ------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``MODERATION_*`` variables, then keyword overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = PREFIX + f.name.upper()
            if key not in env:
                continue
            raw = env[key]
            try:
                values[f.name] = _parse(f, raw)
            except (SettingsError, ValueError) as exc:
                raise SettingsError(f"{key}: {exc}") from exc
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.comment_min_chars < 1 or self.comment_max_chars < self.comment_min_chars:
            raise SettingsError("need 1 <= COMMENT_MIN_CHARS <= COMMENT_MAX_CHARS")
        if self.log_format not in {"json", "text"}:
            raise SettingsError("LOG_FORMAT must be json or text")
        if self.toxicity_batch_size < 1:
            raise SettingsError("TOXICITY_BATCH_SIZE must be at least 1")
        for name in ("report_rate_per_ip", "report_rate_per_reporter", "analyze_rate_per_key"):
            try:
                rate_limits(getattr(self, name))
            except ValueError as exc:
                raise SettingsError(f"{name.upper()}: {exc} (e.g. 20/hour;100/day)") from exc
        if self.analyze_timeout_s <= 0:
            raise SettingsError("ANALYZE_TIMEOUT_S must be more than 0")
        if self.reporter_min_age_s < 0:
            raise SettingsError("REPORTER_MIN_AGE_S must be 0 or more")
        if self.hold_mark_ttl_s < 3:
            raise SettingsError("HOLD_MARK_TTL_S must be at least 3 (renewed every third)")
        if self.vi_labels_refresh_s < 0:
            raise SettingsError("VI_LABELS_REFRESH_S must be 0 or more")
        if self.vi_labels_min_per_class < 1:
            raise SettingsError("VI_LABELS_MIN_PER_CLASS must be at least 1")
        if not 0 <= self.vi_labels_max_weight <= 1:
            raise SettingsError("VI_LABELS_MAX_WEIGHT must be between 0 and 1")
        if self.toxicity_lease_s < 1:
            raise SettingsError("TOXICITY_LEASE_S must be at least 1")
        if self.toxicity_model_vi not in ("", SHIPPED_VI_TOXICITY_MODEL):
            raise SettingsError(f"TOXICITY_MODEL_VI must be {SHIPPED_VI_TOXICITY_MODEL} or empty")
        if not self.toxicity_checkpoint and self.toxicity_model not in TOXICITY_MODELS:
            raise SettingsError(
                f"TOXICITY_MODEL must be one of {', '.join(TOXICITY_MODELS)} "
                "unless TOXICITY_CHECKPOINT is set"
            )

    # Derived values -----------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = Path(self.data_dir).resolve() / "moderation.sqlite3"
        return f"sqlite:///{path}"

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def dispatch_mark_ttl_s(self) -> int:
        """A queued message's dispatch mark outlives the broker's own redelivery of it.

        Only until a worker receives the message: from then on the mark lasts
        HOLD_MARK_TTL_S and that worker renews it (:mod:`workers.holds`).
        """
        return self.visibility_timeout_s + 2 * self.sweeper_interval_s


def _parse(f: dataclasses.Field, raw: str) -> Any:
    parse = f.metadata.get("parse")
    if parse is not None:
        return parse(raw)
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if kind == "bool":
        return parse_bool(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={lo:g}:{hi:g}" for k, (lo, hi) in value.items())
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"{value[0]:g}:{value[1]:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_table() -> str:
    """The README's settings table, in Markdown."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        default = _show(getattr(defaults, f.name))
        default = f"`{default}`" if default else "(empty)"
        lines.append(f"| `{PREFIX}{f.name.upper()}` | {default} | {f.metadata['doc']} |")
    return "\n".join(lines)
