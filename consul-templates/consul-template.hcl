# consul-template configuration for a router host (docs/router.md). Paths are a site's choice;
# these match the layout docs/router.md describes (templates in /etc/paas/consul-templates).
#
#   consul-template -config /etc/paas/consul-templates/consul-template.hcl
#
# Settings the templates read from the environment: PAAS_KV_PREFIX, PAAS_DOMAIN,
# PAAS_HTTPS_PORT, PAAS_CONTROLLER_ADDR, PAAS_HAPROXY_HTTP_BIND, PAAS_HAPROXY_HTTPS_BIND,
# PAAS_HAPROXY_CERTS. The ACL token comes from CONSUL_HTTP_TOKEN (never written here).

consul {
  address = "127.0.0.1:8500"
  retry {
    enabled  = true
    attempts = 0          # forever: a Consul restart must not stop routing updates
    backoff  = "250ms"
    max_backoff = "10s"
  }
}

# Keep the last good output when Consul is unreachable; never render half a view.
log_level = "info"
kill_signal = "SIGTERM"

# Changes coalesce for at least min and at most max. Small values keep route convergence
# within about a second (a canary promoted, an instance drained).
wait {
  min = "100ms"
  max = "1s"
}

template {
  source      = "/etc/paas/consul-templates/haproxy.cfg.ctmpl"
  destination = "/etc/haproxy/haproxy.cfg"
  perms       = 0644
  backup      = true
  # HAProxy 2.6 in master-worker mode: USR2 to the master reloads without dropping a
  # connection (old workers finish theirs). The new file is checked first; if the check fails,
  # the running HAProxy keeps its last good config (haproxy.cfg.bak holds it on disk) and the
  # failure is logged. The `|| logger` keeps the exit status 0: a failing command would stop
  # consul-template, and with it every later route change.
  command = ["/bin/sh", "-c", "haproxy -c -q -f /etc/haproxy/haproxy.cfg && kill -USR2 \"$(cat /run/haproxy.pid)\" || logger -t paas-router 'haproxy.cfg rejected or HAProxy not running'"]
  command_timeout = "30s"
  error_on_missing_key = false
}

template {
  source      = "/etc/paas/consul-templates/traefik-dynamic.yml.ctmpl"
  # Traefik's providers.file.directory (watch: true) picks the file up itself: no command.
  destination = "/etc/traefik/dynamic/paas-apps.yml"
  perms       = 0644
  error_on_missing_key = false
}
