"""`paas-controller --bind HOST:PORT`: the API under gunicorn (a production WSGI server)."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import logging
import os
import signal
from dataclasses import replace

from gunicorn.app.base import BaseApplication

from paas.config import Settings
from paas.router.files import write_fallback_route, write_platform_route


class ControllerServer(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", [self.settings.bind])
        self.cfg.set("workers", self.settings.workers)
        self.cfg.set("threads", self.settings.threads)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("accesslog", "-")
        # No query strings in the access log: nothing secret travels there today, keep it that way.
        self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms')
        self.cfg.set("proc_name", "paas-controller")
        self.cfg.set("limit_request_line", 8190)

    def load(self):
        from paas.api import create_app

        die_with_parent()
        app = create_app(self.settings)
        services = app.extensions["paas"]
        services.tls.sync()  # the router serves every stored certificate
        services.maintenance.sync()  # and sends every app in maintenance to its page
        # Each worker process deploys the apps whose locks it holds.
        services.supervisor(f"pid-{os.getpid()}").start()
        # Every worker starts one; only the holder of the host lock collects (another worker
        # takes over when it dies).
        collector = services.log_collector()
        if collector is not None:
            collector.start()
        return app


def die_with_parent() -> None:
    """A worker must not outlive its master: a SIGKILLed controller would otherwise leave a
    worker whose supervisor keeps holding app locks (Linux: PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="paas-controller", description="Serve the paas REST API.")
    parser.add_argument("--bind", default=settings.bind, help="HOST:PORT to listen on (default %(default)s)")
    parser.add_argument("--workers", type=int, default=settings.workers, help="worker processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = replace(settings, bind=args.bind, workers=args.workers)
    if settings.controller_route:
        publish_controller_route(settings)
    ControllerServer(settings).run()


def publish_controller_route(settings: Settings) -> None:
    """Route paas.<PAAS_DOMAIN> to this controller through Traefik's file provider, and every
    host no other route takes to its router pages (docs/router.md, "Router pages")."""
    upstream = [settings.controller_upstream]
    try:
        write_platform_route(settings.router_dir, settings.platform_domain, upstream, platform=settings.kv_prefix)
        write_fallback_route(settings.router_dir, settings.platform_domain, upstream, platform=settings.kv_prefix)
    except OSError as exc:
        logging.getLogger(__name__).warning("could not publish the controller's routes: %s", exc)


if __name__ == "__main__":
    main()
