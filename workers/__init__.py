"""Celery workers: the scoring pipeline, the toxicity scorer, webhooks.

Start one with ``celery -A workers.celery_app worker -Q default`` (or ``-Q toxicity``).
"""
