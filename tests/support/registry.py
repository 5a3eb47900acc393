"""Registry fixtures: owned by the registry/image-sources work."""
