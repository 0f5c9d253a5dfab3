"""gunicorn settings for the API (``gunicorn -c config/gunicorn.py 'service:create_app()'``)."""

import gc
import multiprocessing
import os

from config import gunicorn_errors

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
# Request size is enforced by the app (MAX_REQUEST_BYTES) with a JSON error; what
# gunicorn refuses itself (request line over 8190 bytes, more than 100 headers or one
# over 8190 bytes, a bare CR or a malformed header) is answered in the same JSON shape.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
gunicorn_errors.install()


def post_worker_init(worker: object) -> None:
    """Move what the app built at start-up into the permanent GC generation.

    The app's modules, routes and schemas are some 130,000 objects that live as long as
    the worker; every full collection walked them all, adding ~100 ms to one request
    in about twenty on the console's queue page (p99 125 ms measured in-process, under
    70 ms frozen). What requests allocate is still collected as before.
    """
    gc.collect()
    gc.freeze()
