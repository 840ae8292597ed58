"""Registry entries of functional/segmentation.py."""
