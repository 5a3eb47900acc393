"""Sources turn the outside world (images, directories, SBOM documents) into model objects."""
