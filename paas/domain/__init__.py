"""The domain model: plain data and rules, no Flask, Docker, Nomad or Consul."""
