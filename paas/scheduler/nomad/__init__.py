"""The cluster scheduler: the Scheduler port on Nomad, split by concern.

    options.py      NomadOptions: what the adapter reads from Settings
    jobspec.py      the HCL2 jobs (pure): render_job, render_run_job, the hcl filters
    client.py       Nomad's HTTP API (python-nomad), errors as the domain's, secrets scrubbed
    allocs.py       allocations in the port's terms (pure): labels, states, exits, addresses
    checks.py       the adapter's own probe of web instances (CheckResult)
    deployments.py  start/observe/promote/retire/discard/reconcile on Nomad's deployments
    logs.py         tails, followed streams, an ended instance's last lines
    runs.py         one-off runs (parameterized batch job, dispatch)
    adapter.py      NomadScheduler, which puts them together
"""

from .adapter import NomadScheduler
from .client import Unreachable
from .jobspec import render_job, render_run_job
from .options import Constraint, NomadOptions

__all__ = ["Constraint", "NomadOptions", "NomadScheduler", "Unreachable", "render_job", "render_run_job"]
