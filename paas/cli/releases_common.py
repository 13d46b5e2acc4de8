"""Reporting what a mutation deployed: the release it created and the deployment the controller
waited for (config:set, releases:rollback, builds:create, ps:restart, limits, health checks)."""

from __future__ import annotations

import argparse
from typing import Any

from .errors import CLIError
from .output import fmt_version

FAILED = "failed"
RUNNING = "running"
CANCELLED = "cancelled"


def add_no_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the change is recorded, without waiting for the deploy",
    )


def wait_params(args: argparse.Namespace) -> dict[str, str] | None:
    """?wait=false with --no-wait; nothing otherwise (the controller waits by default)."""
    return {"wait": "false"} if getattr(args, "no_wait", False) else None


def release_result(release: dict[str, Any] | None) -> str:
    """The tail of a progress line: 'v3', or 'no changes' when no release was made."""
    if not release:
        return "no changes"
    return fmt_version(release.get("version"))


def _reason(text: Any) -> str:
    return str(text) if text else "unknown reason"


def explain(deployment: dict[str, Any]) -> str:
    """Why a deployment failed: its description, then the check's last result and the failed
    instance's own last lines when the controller kept them."""
    lines = [_reason(deployment.get("description"))]
    failure = deployment.get("failure") or {}
    if failure.get("check") and failure["check"] not in lines[0]:
        lines.append(f"last check result: {failure['check']}")
    if failure.get("last_lines"):
        lines.append(f"last output of {failure.get('instance') or 'the instance'}:")
        lines += [f"  {line}" for line in failure["last_lines"]]
    return "\n".join(lines)


def deploy_failure(release: dict[str, Any] | None, deployment: dict[str, Any] | None) -> str | None:
    """The error for a release that did not go live, or None.

    The deployment decides when it is the release's own; a deployment of a newer release
    (the controller stops waiting when the release is superseded) says nothing about it. A
    failed roll of the live release (restart, limits, health checks) is the change's failure:
    that release keeps serving."""
    version = release.get("version") if release else None
    if deployment and deployment.get("status") == FAILED and version is None:
        return (f"The change failed to deploy; {fmt_version(deployment.get('release'))} keeps serving "
                f"as before: {explain(deployment)}")
    if deployment and deployment.get("status") == FAILED and deployment.get("release") == version:
        return f"{fmt_version(deployment.get('release'))} failed to deploy: {explain(deployment)}"
    if release and release.get("failed"):
        return f"{fmt_version(version)} failed to deploy: {_reason(release.get('failure_reason'))}"
    return None


def deployment_remark(release: dict[str, Any] | None, deployment: dict[str, Any] | None) -> str:
    """A parenthesised remark for a successful progress line when the deploy did not simply finish."""
    if not deployment:
        return ""
    version = release.get("version") if release else None
    other = deployment.get("release")
    if version is not None and isinstance(other, int) and other != version:
        return f" (superseded by {fmt_version(other)})"
    status = deployment.get("status")
    if status == RUNNING and not deployment.get("promoted"):
        return " (still deploying: see 'paas ps')"
    if status == CANCELLED:
        return f" (deployment cancelled: {_reason(deployment.get('description'))})"
    return ""


def settle(release: dict[str, Any] | None, deployment: dict[str, Any] | None) -> str:
    """The progress result for a release the controller deployed ('v3'), or raise its failure."""
    failure = deploy_failure(release, deployment)
    if failure:
        raise CLIError(failure)
    return release_result(release) + deployment_remark(release, deployment)


def settle_deployment(deployment: dict[str, Any] | None) -> str:
    """The same for a roll of the live release (restart, limits, health checks): '' or a remark."""
    failure = deploy_failure(None, deployment)
    if failure:
        raise CLIError(failure)
    return deployment_remark(None, deployment).strip(" ()")
