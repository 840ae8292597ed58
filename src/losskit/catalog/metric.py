"""Registry entries of functional/metric.py."""
