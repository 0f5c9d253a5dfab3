"""Moderation: decisions, the audit trail, and the moderators' API."""
