"""Consul KV repositories: the platform's only store. Key layout: docs/architecture.md."""
