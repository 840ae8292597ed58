"""Registry entries: binary losses."""
