"""binary losses."""

__all__ = []
