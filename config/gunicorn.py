"""gunicorn settings for the API (``gunicorn -c config/gunicorn.py 'service:create_app()'``)."""

import multiprocessing
import os

bind = os.environ.get(
    "MODERATION_API_BIND", f"0.0.0.0:{os.environ.get('MODERATION_API_PORT', '8000')}"
)
# sync workers: each request is a few milliseconds of database work
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# the app logs every request itself, with its request id, as JSON
accesslog = None
errorlog = "-"
loglevel = os.environ.get("MODERATION_LOG_LEVEL", "info").lower()
# request size is enforced by the app (MAX_REQUEST_BYTES) with a JSON error
limit_request_line = 8190
