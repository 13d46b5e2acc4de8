"""The supervisor's change feed on the real Consul: every write of an app's desired state is seen,
and names the app (Consul does not bump ModifyIndex for a write of an unchanged value, which once
left new releases waiting for the 30-s sweep)."""

from __future__ import annotations

import threading
import uuid

from paas.config import Settings
from paas.store.kv import ConsulKV, Op, connect


def test_each_write_of_an_apps_desired_state_wakes_the_feed_and_names_the_app():
    settings = Settings.from_env()
    kv = ConsulKV(connect(settings.consul_addr, settings.consul_token), f"paas-test-{uuid.uuid4().hex[:8]}")
    try:
        kv.txn([kv.changed("shop"), kv.changed("blog")])
        index, first = kv.wait_for_changes(0, 1)
        for _ in range(2):  # the same write twice: both are seen
            timer = threading.Timer(0.2, lambda: kv.txn([kv.changed("shop")]))
            timer.start()
            index, versions = kv.wait_for_changes(index, 10)
            timer.join()
            assert versions["shop"] != first["shop"] and versions["blog"] == first["blog"]
            first = versions
    finally:
        kv.txn([Op.delete_tree(kv.prefix + "/")])
