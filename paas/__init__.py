"""paas: a Heroku/Deis-style platform on Nomad + Consul."""
