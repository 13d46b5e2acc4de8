"""The router: Consul service tags the schedulers write and Traefik reads (tags.py), the files
of Traefik's file provider (files.py: the controller's own route, TLS certificates) and TLS
certificate validation (certs.py). docs/router.md describes the whole contract."""
