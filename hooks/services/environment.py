"""The environment of a hook process (docs/hooks.md#hook-environment), as pure functions.

A hook gets borgui's own environment (DOCKER_HOST, PATH, proxies and user-set variables
pass through) minus borgui's secrets and every inherited BORG_UI_* variable, plus its
parameters, plus exactly the BORG_UI_* variables that apply. Variables that do not apply
are absent, not empty.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from common import childenv
from repositories.status import HookType, Status


@dataclass(frozen=True)
class RepositoryInfo:
    id: int
    name: str
    path: str


@dataclass(frozen=True)
class SourceHost:
    host: str
    port: int
    username: str


@dataclass(frozen=True)
class PlanInfo:
    id: int
    name: str
    run_id: int


@dataclass(frozen=True)
class HookContext:
    """Everything that decides the BORG_UI_* set of one hook run."""

    hook_type: str  # pre-backup | post-backup | restore-drill
    backup_status: str | None = None  # post-backup only: the job or run status (skipped is told as warning)
    repository: RepositoryInfo | None = None
    job_id: int | None = None
    source: SourceHost | None = None
    plan: PlanInfo | None = None
    legacy_inline: bool = False  # inline repository hooks name the source host BORG_UI_SOURCE_*
    # restore-drill only (docs/maintenance.md): the scratch directory and the archive restored there
    restore_path: str | None = None
    archive_name: str | None = None


def inherited_environment(process_env: Mapping[str, str]) -> dict[str, str]:
    return childenv.inherited(process_env)


def injected_variables(context: HookContext) -> dict[str, str]:
    variables = {"BORG_UI_HOOK_TYPE": context.hook_type}
    if context.hook_type == HookType.POST_BACKUP and context.backup_status:
        variables["BORG_UI_BACKUP_STATUS"] = Status(context.backup_status).backup_status
    if context.repository is not None:
        variables["BORG_UI_REPOSITORY_ID"] = str(context.repository.id)
        variables["BORG_UI_REPOSITORY_NAME"] = context.repository.name
        variables["BORG_UI_REPOSITORY_PATH"] = context.repository.path
    if context.job_id is not None:
        variables["BORG_UI_JOB_ID"] = str(context.job_id)
    if context.plan is not None:
        variables["BORG_UI_PLAN_ID"] = str(context.plan.id)
        variables["BORG_UI_PLAN_NAME"] = context.plan.name
        variables["BORG_UI_PLAN_RUN_ID"] = str(context.plan.run_id)
    if context.restore_path is not None:
        variables["BORG_UI_RESTORE_PATH"] = context.restore_path
    if context.archive_name is not None:
        variables["BORG_UI_ARCHIVE_NAME"] = context.archive_name
    if context.source is not None:
        prefix = "BORG_UI_SOURCE_" if context.legacy_inline else "BORG_UI_REMOTE_"
        variables[prefix + "HOST"] = context.source.host
        variables[prefix + "PORT"] = str(context.source.port)
        variables[prefix + "USERNAME"] = context.source.username
    return variables


def build_hook_environment(
    process_env: Mapping[str, str], context: HookContext, parameters: Mapping[str, str]
) -> dict[str, str]:
    """The complete environment of a local hook process."""
    env = inherited_environment(process_env)
    env.update(parameters)
    env.update(injected_variables(context))
    return env


def build_remote_environment(context: HookContext, parameters: Mapping[str, str]) -> dict[str, str]:
    """A hook on the source host gets only its parameters and the BORG_UI_* set."""
    return {**parameters, **injected_variables(context)}
