"""What will run (docs/running-plans.md, "What will run"): whether Docker lets the plan's
hooks do what their `docker …` commands ask, by the System check's own probes."""

from common import docker_client
from hooks.models import ExecutionTarget
from hooks.services.engine import attachments_of
from repositories.services.steps import PartialSteps, Phase, PlanPreview, Step
from repositories.status import HookType
from system.report import DockerNeeds, add_hook_needs


def _plan_needs(preview: PlanPreview) -> DockerNeeds:
    needs = DockerNeeds()
    for hook_type in HookType:
        for owner in (preview.plan, *preview.repositories):
            for attachment in attachments_of(owner, hook_type):
                if attachment.script.execution_target == ExecutionTarget.LOCAL:
                    add_hook_needs(needs, f"script {attachment.script.name}", attachment.script.body)
        for repository in preview.repositories:
            body = repository.inline_hook_in_effect(hook_type)
            if body:
                add_hook_needs(needs, f"inline {hook_type.value} hook of {repository.name}", body)
    return needs


class DockerAccessPreview(PartialSteps):
    """Adds a step only for a plan whose local hooks run the docker CLI."""

    def preview(self, preview: PlanPreview) -> None:
        needs = _plan_needs(preview)
        if not needs.sections:
            return
        step = preview.add(Step(Phase.LEASES, "docker", "Docker access of the hooks (as the System page checks it)"))
        for section in needs.ordered():
            step.facts.append((section, ", ".join(needs.sections[section])))
        step.notes.extend(f"{unchecked}: not checked here" for unchecked in needs.unchecked)
        try:
            with docker_client.Docker.connect() as docker:
                probes = docker.probe_sections()
        except docker_client.DockerError as e:
            step.problems.append(f"the hooks run docker, but {e}")
            return
        missing = docker_client.missing_proxy_variables(probes)
        for section in needs.ordered():
            probe = probes[section]
            if probe.allowed:
                continue
            detail = probe.detail
            if probe.denied:
                detail = (
                    f"denied by the socket proxy (403): enable {docker_client.enable_text(missing.get(section, ()))}"
                )
            step.problems.append(f"{', '.join(needs.sections[section])}: Docker {section}: {detail}")
