"""sys layer."""
