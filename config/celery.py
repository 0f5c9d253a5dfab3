"""Celery configuration derived from :class:`config.Settings`.

Delivery rules (DESIGN.md, STYLE.md): late acks with requeue when a worker dies,
ids-only JSON messages, results ignored, events on so Flower sees every task.
"""

from __future__ import annotations

from typing import Any

from config.settings import Settings

#: Queue names. ``toxicity`` gets its own worker process type (heavy, ML); so does
#: ``webhooks``: a delivery waits on the site's server, and a slow or dead one must
#: never hold a process that the pipeline's decisions need.
DEFAULT_QUEUE = "default"
TOXICITY_QUEUE = "toxicity"
WEBHOOKS_QUEUE = "webhooks"


def celery_config(settings: Settings) -> dict[str, Any]:
    """The ``app.conf`` mapping for the service's Celery app."""
    transport_options = {
        # Longer than the slowest task plus its retries, or Redis hands the
        # same message to a second worker while the first still runs it.
        "visibility_timeout": settings.visibility_timeout_s,
        # Fail fast when Redis is unreachable: the API leaves the comment to the
        # sweeper instead of making the reader wait.
        "socket_connect_timeout": settings.enqueue_timeout_s,
        "socket_timeout": max(settings.enqueue_timeout_s, 5.0),
    }
    return {
        "broker_url": settings.celery_broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": settings.enqueue_timeout_s,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {
            "workers.toxicity.*": {"queue": TOXICITY_QUEUE},
            "workers.webhooks.*": {"queue": WEBHOOKS_QUEUE},
        },
        "task_create_missing_queues": True,
        # One publish retry at most: a POST must not hang on a dead broker.
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0.1,
            "interval_step": 0.2,
            "interval_max": 0.3,
        },
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "timezone": "UTC",
        "enable_utc": True,
        "imports": ("workers.pipeline.tasks", "workers.toxicity.tasks", "workers.webhooks.tasks"),
        "beat_schedule": {
            "sweep-pending-comments": {
                "task": "workers.pipeline.tasks.sweep_pending",
                "schedule": float(settings.sweeper_interval_s),
                "options": {"expires": float(settings.sweeper_interval_s)},
            },
        },
    }
