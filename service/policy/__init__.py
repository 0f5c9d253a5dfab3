"""Site policy the pipeline applies: word lists and author standing (bans, always-review)."""
