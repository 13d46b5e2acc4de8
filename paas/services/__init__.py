"""Use cases. Services see only the domain and its ports."""
