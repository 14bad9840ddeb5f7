"""Adapters that fetch package facts from registries and other data sources."""
