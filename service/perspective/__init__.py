"""A Perspective-compatible ``comments:analyze`` and ``comments:suggestscore``."""
