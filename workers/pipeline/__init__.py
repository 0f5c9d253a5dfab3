"""The scoring pipeline's cheap stages and its decision, on the ``default`` queue."""
