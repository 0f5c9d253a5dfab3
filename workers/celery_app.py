"""Worker entry point: build the app, expose its Celery instance. Nothing else at import."""

import workers.signals  # noqa: F401 - per-process setup after fork
from service import create_app
from workers.holds import HeldMessages

flask_app = create_app()
celery = flask_app.extensions["celery"]
celery.steps["consumer"].add(HeldMessages)
