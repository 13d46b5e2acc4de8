"""Schedulers: adapters of paas.domain.scheduler.Scheduler (docker: one host; nomad: a cluster)."""
