"""Benchmarks of the real stack, each figure a ratio of two things measured in one run."""
