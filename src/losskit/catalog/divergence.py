"""Registry entries: divergence."""
