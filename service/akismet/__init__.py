"""Akismet-compatible ``verify-key``, ``comment-check``, ``submit-spam`` and ``submit-ham``."""
