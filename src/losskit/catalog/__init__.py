"""Registry entries, one file per family; imported by ``registry`` on first use."""
