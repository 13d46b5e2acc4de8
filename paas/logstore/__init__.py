"""Adapters of the log history (domain.ports.LogStore)."""
