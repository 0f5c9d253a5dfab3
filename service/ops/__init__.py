"""Ops endpoints: liveness, readiness, metrics."""
