"""Toxicity tasks (the scorer arrives with the scoring issue)."""
