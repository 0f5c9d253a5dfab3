"""The webhook delivery task; what it does lives in ``service/webhooks/``."""
