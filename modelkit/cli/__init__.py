"""The tfplat-model command line."""
