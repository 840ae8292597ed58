"""Bad-input cases, one module per family, each a list ``CASES`` of
``(id, call, error_type, message_regex)``; ``tests/test_errors.py`` runs them
all as one table."""
