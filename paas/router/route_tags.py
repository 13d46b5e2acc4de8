"""The RouteTags port (domain/ports.py) for the routers this platform ships: Consul service tags
that Traefik's consulCatalog provider and the consul-templates read (router/tags.py)."""

from __future__ import annotations

from paas.domain.scheduler import AppPlan

from . import tags


class ConsulCatalogTags:
    def __init__(self, platform_domain: str, https_port: int | None):
        self.platform_domain = platform_domain
        self.https_port = https_port

    def live(self, plan: AppPlan) -> list[str]:
        hosts = tags.app_hosts(plan.app, plan.domains, self.platform_domain)
        return tags.live_tags(plan.app, plan.release, hosts, force_tls=plan.force_tls, https_port=self.https_port)

    def canary(self, plan: AppPlan) -> list[str]:
        return tags.canary_tags(plan.app, plan.release)

    def unrouted(self, plan: AppPlan, canary: bool) -> list[str]:
        """Instances nothing routes to (workers): in the catalog, never in a router."""
        return [tags.PLATFORM_TAG, tags.release_tag(plan.release), tags.CANARY_TAG if canary else tags.LIVE_TAG]
