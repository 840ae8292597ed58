"""divergence losses."""

__all__ = []
