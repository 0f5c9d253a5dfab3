"""The moderators' console: server-rendered pages at ``/console`` over the same services
as the JSON API (queue, decisions, standings, word lists), in Vietnamese and English."""
