"""The docker scheduler's container and network specs (paas/scheduler/docker_spec.py): pure
functions, so every isolation setting is checked here without Docker."""

from __future__ import annotations

import pytest

from paas.config import APP_BRIDGE_PREFIX
from paas.domain import names
from paas.domain.errors import ValidationError
from paas.domain.scheduler import AppPlan, ProcessPlan
from paas.scheduler import docker_spec
from paas.scheduler.docker_spec import Limits

LIMITS = Limits(user="10001:10001", memory="256M", cpu=0.1, pids=512)
PASSWD = "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n"
GROUP = "root:x:0:\nnode:x:1000:\nwheel:x:0:\n"


def plan(**changes) -> AppPlan:
    base = AppPlan(app="shop", release=3, image="127.0.0.1:5000/shop:b-1", env={"SECRET": "s3"},
                   processes=[ProcessPlan("web", "gunicorn app:app", 2, memory="512M", cpu=0.5),
                              ProcessPlan("worker", "python worker.py", 1)])
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_network_is_named_and_labelled_per_platform_and_app():
    spec = docker_spec.network_spec("paas-a", "shop")
    assert spec["name"] == "paas-paas-a-shop" and spec["driver"] == "bridge"
    assert spec["labels"] == {"paas.platform": "paas-a", "paas.app": "shop", "paas.role": "network"}
    bridge = spec["options"]["com.docker.network.bridge.name"]
    assert bridge.startswith(APP_BRIDGE_PREFIX) and len(bridge) == 15  # Linux: at most 15 characters
    assert bridge == docker_spec.bridge_name("paas-a", "shop")
    # Another platform's app of the same name gets another network and bridge.
    assert docker_spec.bridge_name("paas-b", "shop") != bridge
    assert names.app_network("paas-b", "shop") != spec["name"]


def test_racing_creators_agree_on_one_network():
    assert docker_spec.winner(["b2", "a1", "c3"]) == "a1"


@pytest.mark.parametrize(("image_user", "expected"), [
    (None, "10001:10001"),
    ("", "10001:10001"),
    ("root", "10001:10001"),
    ("0", "10001:10001"),
    ("0:0", "10001:10001"),
    ("toor", "10001:10001"),        # a name with uid 0 in the image's passwd
    ("ghost", "10001:10001"),       # unknown to the image
    ("1000:0", "10001:10001"),      # root's group
    ("node:wheel", "10001:10001"),  # a group named otherwise, with gid 0
    ("node", "node"),
    ("1000", "1000"),
    ("1000:1000", "1000:1000"),
    ("node:node", "node:node"),
])
def test_run_user_is_never_root(image_user, expected):
    assert docker_spec.run_user(image_user, "10001:10001", PASSWD, GROUP) == expected


def test_a_root_app_user_setting_is_refused():
    for bad in ("0:0", "root", ""):
        with pytest.raises(ValidationError):
            docker_spec.run_user(None, bad)


def test_instance_spec_is_unprivileged_on_the_app_network():
    spec = docker_spec.instance_spec(plan(), plan().process("web"), platform="paas-a", name="paas-shop-web-v3-abc",
                                     deployment_id="d1", host_port=41000, network="net-id", user="10001:10001",
                                     launcher=True, limits=LIMITS)
    assert spec["network"] == "net-id" and "network_mode" not in spec
    assert spec["user"] == "10001:10001"
    assert spec["cap_drop"] == ["ALL"] and "cap_add" not in spec and not spec.get("privileged")
    assert spec["security_opt"] == ["no-new-privileges"]
    assert spec["pids_limit"] == 512
    assert spec["mem_limit"] == spec["memswap_limit"] == "512m" and spec["cpu_shares"] == 512
    assert spec["nano_cpus"] == int(max(0.5, LIMITS.cpu_burst) * 1e9)  # bursts up to the cap
    assert spec["ports"] == {"5000/tcp": ("127.0.0.1", 41000)}
    assert spec["labels"]["paas.platform"] == "paas-a" and spec["labels"]["paas.role"] == "instance"
    assert spec["command"] == ["gunicorn app:app"] and "entrypoint" not in spec  # through the launcher
    assert spec["environment"]["PORT"] == "5000" and spec["environment"]["SECRET"] == "s3"


def test_types_without_limits_get_the_platform_defaults():
    worker = plan().process("worker")
    spec = docker_spec.instance_spec(plan(), worker, platform="p", name="n", deployment_id="d", host_port=None,
                                     network="net", user="10001:10001", launcher=False, limits=LIMITS)
    assert spec["mem_limit"] == "256m" and spec["ports"] == {}
    assert spec["cpu_shares"] == round(LIMITS.cpu * 1024) and spec["nano_cpus"] == int(LIMITS.cpu_burst * 1e9)
    assert spec["entrypoint"] == ["/bin/sh", "-c"] and spec["command"] == ["python worker.py"]


def test_run_spec_is_unprivileged_with_a_deadline_label():
    spec = docker_spec.run_spec(plan(), "ls /", platform="paas-a", name="paas-shop-run-1", network="net",
                                user="1000", launcher=False, limits=LIMITS, deadline=1_700_000_000.4)
    assert spec["labels"] == {"paas.app": "shop", "paas.role": "run", "paas.platform": "paas-a",
                              "paas.release": "3", "paas.type": "run", "paas.deadline": "1700000000"}
    assert spec["network"] == "net" and spec["user"] == "1000"
    assert spec["cap_drop"] == ["ALL"] and spec["security_opt"] == ["no-new-privileges"]
    assert spec["pids_limit"] == 512 and spec["mem_limit"] == "512m"  # the web type's limits
    assert spec["environment"]["PAAS_PROCESS_TYPE"] == "run" and "restart_policy" not in spec
