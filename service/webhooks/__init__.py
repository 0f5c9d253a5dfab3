"""Signed webhooks to the site when a comment's status changes: outbox, delivery, signature."""
