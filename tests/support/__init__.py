"""Test tools: the router client, the consul-template renderer and the one polling helper."""
