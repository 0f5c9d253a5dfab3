"""Toxicity scoring with Detoxify, batched, on the ``toxicity`` queue."""
