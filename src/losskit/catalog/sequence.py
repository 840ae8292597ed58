"""Registry entries of functional/sequence.py."""
