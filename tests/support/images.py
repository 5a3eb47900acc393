"""Real image fixtures: owned by the image-building work."""
