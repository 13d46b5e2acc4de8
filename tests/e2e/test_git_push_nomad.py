"""With PAAS_SCHEDULER=nomad, `git push` of the Flask sample through the real gateway ends with a
promoted Nomad deployment (against NomadApiDouble: the image is built and pushed for real)."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from paas.wiring import build_services
from tests.doubles.nomad_api import NomadApiDouble

from .. import harness
from ..conftest import PASSWORD, unique
from .conftest import sample_repo


@pytest.fixture
def nomad_platform(settings, tmp_path):
    gateway_dir = Path("/run") / unique("paas-test-nomad-gw")
    gateway_dir.mkdir(mode=0o755)
    token_file = gateway_dir / "gateway-token"
    token_file.write_text(uuid.uuid4().hex)
    with NomadApiDouble(checks="passing") as double:
        prefix = unique("paas-nomad-push")
        mine = replace(settings, kv_prefix=prefix, scheduler="nomad", nomad_addr=double.address)
        services = build_services(mine)
        env = {"CONSUL_HTTP_ADDR": settings.consul_addr, "PAAS_KV_PREFIX": prefix, "PAAS_DATA_DIR": str(tmp_path),
               "PAAS_WORKERS": "1", "PAAS_SCHEDULER": "nomad", "NOMAD_ADDR": double.address,
               "PAAS_GATEWAY_TOKEN_FILE": str(token_file)}
        controller, url = harness.start_controller(env, tmp_path / "controller.log")
        sshd = None
        try:
            sshd, port = harness.start_gateway(gateway_dir, url, token_file, tmp_path / "sshd.log")
            yield services, double, port
        finally:
            if sshd:
                harness.stop(sshd)
            harness.stop(controller)
            services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": prefix + "/"}}])
            subprocess.run(["rm", "-rf", str(gateway_dir)], check=False)


def test_git_push_ends_in_a_promoted_nomad_deployment(nomad_platform, tmp_path):
    services, double, port = nomad_platform
    name = unique("pusher")
    user, _ = services.auth.register(name, PASSWORD)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    services.keys.add(user, key.with_suffix(".pub").read_text())
    app = unique("nomadpush")
    services.apps.create(user, app)
    services.formation.change(app, update={"min_healthy_time": 0.1, "healthy_deadline": 5, "drain_time": 0})
    repo = sample_repo("flask", tmp_path)
    ssh = f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    result = subprocess.run(["git", "push", f"ssh://git@127.0.0.1:{port}/{app}.git", "main"], cwd=repo,
                            env={"GIT_SSH_COMMAND": ssh, "PATH": "/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"Released v2 of {app}" in result.stderr
    assert "v2 is live" in result.stderr or "successful" in result.stderr.lower() or "promot" in result.stderr.lower()
    job = double.job(f"paas-{app}")
    assert job["Meta"]["release"] == "2" and job["Meta"]["git_sha"]
    web = next(g for g in job["TaskGroups"] if g["Name"] == "web")
    assert web["Update"]["Canary"] == 1 and web["Update"]["AutoRevert"] is True
    service = web["Services"][0]
    assert "canary" in service["CanaryTags"] and not any(t.startswith("traefik.") for t in service["CanaryTags"])
    assert services.deploys.current(app).status == "successful"
