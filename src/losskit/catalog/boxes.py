"""Registry entries of functional/boxes.py."""
