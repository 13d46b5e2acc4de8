"""Nomad's HTTP API as the adapter uses it: python-nomad does the HTTP; the few calls it gets wrong
or lacks (blocking queries, ?resources=true, the dispatch idempotency token, streamed logs,
allocation health) go through its requester directly. Every failure becomes one of the domain's
errors with a message that never carries a secret (config values, the token, the registry
password)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import nomad
import requests
from nomad.api import exceptions as nomad_errors

from paas.domain.errors import (
    ConcurrentUpdate,
    NotFound,
    PaasError,
    PermissionDenied,
    SchedulerUnavailable,
    ValidationError,
)

from .jobspec import go_duration
from .options import NomadOptions

# Nomad could not be reached or failed (503 at the API).
Unreachable = SchedulerUnavailable
# A check-and-set mismatch on register is HTTP 500 with this text (not 409), and on revert
# (EnforcePriorVersion) with the second.
CAS_CONFLICT = "Enforcing job modify index"
REVERT_CONFLICT = "; enforcing version"


class NomadApi:
    """One Nomad cluster (address, token, namespace, region, TLS from NomadOptions)."""

    def __init__(self, options: NomadOptions, client: nomad.Nomad | None = None):
        self.options = options
        self.client = client or self._connect()

    def _connect(self) -> nomad.Nomad:
        o = self.options
        verify: bool | str = o.cacert or not o.skip_verify
        cert = (o.client_cert, o.client_key) if o.client_cert and o.client_key else ()
        return nomad.Nomad(address=o.addr.rstrip("/"), token=o.token, namespace=o.namespace, region=o.region,
                           timeout=o.timeout, verify=verify, cert=cert, session=requests.Session())

    # ------------------------------------------------------------------ errors
    @contextmanager
    def errors(self, doing: str, secrets: Iterable[str] = ()) -> Iterator[None]:
        """Nomad's failures as the domain's errors, with messages that never carry a secret."""
        secrets = list(secrets)
        try:
            yield
        except nomad_errors.URLNotAuthorizedNomadException:
            raise PermissionDenied(
                f"Nomad refused to {doing} (403 Permission denied): the token in NOMAD_TOKEN lacks a capability "
                "this platform needs (docs/nomad.md lists the ACL policy)") from None
        except nomad_errors.BaseNomadException as exc:
            response = exc.nomad_resp
            if not isinstance(response, requests.Response):
                raise self.unreachable(doing, response) from None
            text = self.scrub(response.text.strip(), secrets)[:300]
            if CAS_CONFLICT in text or REVERT_CONFLICT in text:
                raise ConcurrentUpdate(
                    f"Could not {doing}: the Nomad job changed since it was read (another deploy or an operator "
                    f"registered it meanwhile); nothing was submitted, retry. Nomad said: {text}") from None
            if response.status_code == 404:
                raise NotFound(f"Could not {doing}: Nomad says {text or 'not found'}") from None
            if response.status_code == 400:
                raise ValidationError(f"Nomad rejected the request to {doing}: {text}") from None
            raise Unreachable(f"Nomad failed to {doing} (HTTP {response.status_code}): {text}") from None
        except requests.RequestException as exc:  # our own requests (streams, blocking queries)
            raise self.unreachable(doing, exc) from None

    def unreachable(self, doing: str, cause: Any) -> PaasError:
        reason = type(cause).__name__ if isinstance(cause, BaseException) else "no answer"
        text = str(cause)
        refused = isinstance(cause, requests.ConnectionError) and any(
            mark in text for mark in ("NewConnectionError", "Connection refused", "Failed to establish"))
        outcome = "the request never reached Nomad" if refused else "Nomad may or may not have received the request"
        return Unreachable(f"Nomad is unreachable at {self.options.base_url} ({reason}): could not {doing} "
                           f"({outcome}). Check NOMAD_ADDR and that the Nomad servers are up")

    def scrub(self, text: str, secrets: Iterable[str] = ()) -> str:
        hidden = [s for s in [*secrets, self.options.token, self.options.registry_password] if s and len(s) >= 4]
        for secret in sorted(hidden, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    # ------------------------------------------------------------------ HTTP
    def call(self, requester: Any, *path: str, method: str = "get", params: dict | None = None,
             body: Any = None, timeout: float | None = None, stream: bool = False) -> requests.Response:
        """One request through a python-nomad endpoint's requester (its address, token, TLS)."""
        kwargs: dict[str, Any] = {"method": method, "params": dict(params or {}), "stream": stream}
        if body is not None:
            kwargs["json"] = body
        kwargs["timeout"] = timeout if timeout is not None or stream else self.options.timeout
        return requester.request(*path, **kwargs)

    def job(self, job_id: str) -> dict | None:
        try:
            return self.client.job.get_job(job_id)
        except nomad_errors.URLNotFoundNomadException:
            return None

    def versions(self, job_id: str) -> list[dict]:
        """The versions Nomad still tracks, newest first ([] when there is no job)."""
        try:
            answer = self.client.job.get_versions(job_id)
        except nomad_errors.URLNotFoundNomadException:
            return []
        return sorted(answer.get("Versions") or [], key=lambda j: int(j.get("Version") or 0), reverse=True)

    def allocations(self, job_id: str) -> list[dict]:
        """Allocation stubs of the job with their ports (?resources=true); [] when there is none."""
        try:
            response = self.call(self.client.job, job_id, "allocations", params={"resources": "true"})
        except nomad_errors.URLNotFoundNomadException:
            return []
        return response.json() or []

    def allocation(self, alloc_id: str) -> dict | None:
        """The whole allocation, with the Job version it runs."""
        try:
            return self.client.allocation.get_allocation(alloc_id)
        except nomad_errors.URLNotFoundNomadException:
            return None

    def deployments(self, job_id: str) -> list[dict]:
        """The job's Nomad deployments, newest first."""
        try:
            found = self.client.job.get_deployments(job_id) or []
        except nomad_errors.URLNotFoundNomadException:
            return []
        return sorted(found, key=lambda d: int(d.get("CreateIndex") or 0), reverse=True)

    def parse(self, hcl: str) -> dict:
        """Nomad itself turns the HCL into its JSON job (POST /v1/jobs/parse, canonicalized)."""
        return self.client.jobs.parse(hcl, canonicalize=True)

    def register(self, job_id: str, hcl: str, doing: str, secrets: Iterable[str]) -> dict:
        """Parse, then register with check-and-set against the job as read (EnforceIndex; 0 = create
        only) and the HCL as the version's Submission, so `nomad job inspect` and the UI show what
        the platform sent; wait for the evaluation. The job as registered."""
        secrets = list(secrets)
        with self.errors(doing, secrets):
            job = self.parse(hcl)
            current = self.job(job_id)
            return self.submit(job_id, job, int(current["JobModifyIndex"]) if current else 0, doing, secrets, hcl)

    def submit(self, job_id: str, job: dict, index: int, doing: str, secrets: Iterable[str],
               hcl: str | None = None) -> dict:
        """Register a parsed job if the job's JobModifyIndex is still `index`; wait for its eval."""
        secrets = list(secrets)
        body: dict[str, Any] = {"Job": job, "EnforceIndex": True, "JobModifyIndex": index}
        if hcl is not None:
            body["Submission"] = {"Source": hcl, "Format": "hcl2"}
        with self.errors(doing, secrets):
            response = self.client.jobs.register_job(body)
        with self.errors(f"follow job {job_id}, which Nomad accepted", secrets):
            self.await_eval(response.get("EvalID"))
            registered = self.job(job_id)
        if registered is None:
            raise Unreachable(f"Nomad accepted job {job_id} but does not show it: could not {doing}")
        return registered

    def await_eval(self, eval_id: str | None) -> dict | None:
        """Block (blocking queries) until the evaluation has been processed, so that the
        allocations and the deployment it makes exist; bounded by options.eval_wait."""
        if not eval_id:
            return None
        deadline = time.monotonic() + self.options.eval_wait
        index = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait = min(remaining, 5.0)
            response = self.call(self.client.evaluation, eval_id,
                                 params={"index": index, "wait": go_duration(wait)}, timeout=wait + self.options.timeout)
            evaluation = response.json()
            if evaluation.get("Status") != "pending":
                return evaluation
            index = self._next_index(response, index)

    def wait_allocations(self, job_id: str, index: int, wait: float) -> tuple[list[dict], int]:
        """GET /v1/job/:id/allocations as a blocking query: (allocations, X-Nomad-Index)."""
        response = self.call(self.client.job, job_id, "allocations",
                             params={"index": index, "wait": go_duration(wait)}, timeout=wait + self.options.timeout)
        return response.json() or [], self._next_index(response, index)

    @staticmethod
    def _next_index(response: requests.Response, index: int) -> int:
        new = int(response.headers.get("X-Nomad-Index", 0) or 0)
        if new <= index:
            time.sleep(0.05)  # a server that answers without blocking: do not spin
        return new

    def set_health(self, deployment_id: str, healthy: list[str]) -> None:
        """POST /v1/deployment/allocation-health/:id: the platform has judged these healthy."""
        self.call(self.client.deployment, "allocation-health", deployment_id, method="post",
                  body={"DeploymentID": deployment_id, "HealthyAllocationIDs": healthy,
                        "UnhealthyAllocationIDs": []})

    def stop_job(self, job_id: str) -> None:
        """DELETE /v1/job/:id without purge (`nomad job stop`): every allocation stops, the
        versions stay."""
        try:
            self.client.job.deregister_job(job_id, purge=False)
        except nomad_errors.URLNotFoundNomadException:
            pass

    def purge_job(self, job_id: str) -> None:
        try:
            self.client.job.deregister_job(job_id, purge=True)
        except nomad_errors.URLNotFoundNomadException:
            pass
