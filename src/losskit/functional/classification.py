"""classification losses."""

__all__ = []
