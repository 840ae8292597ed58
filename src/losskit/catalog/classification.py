"""Registry entries: classification."""
