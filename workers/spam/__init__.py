"""Spam scoring: rule-based signals (signals.py) and a learned char n-gram classifier."""
