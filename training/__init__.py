"""Model training and evaluation: run by hand (`make model`), never imported by the service."""
