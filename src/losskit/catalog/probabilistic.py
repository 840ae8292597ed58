"""Registry entries: probabilistic losses."""
