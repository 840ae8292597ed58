"""probabilistic losses."""

__all__ = []
