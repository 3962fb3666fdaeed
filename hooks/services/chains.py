"""Hook chains (docs/running-plans.md#failure-semantics): which hooks run, in which order, and what their failures do.

Pure functions over plain values; the engine feeds them model objects.

"""

from collections.abc import Iterable

from hooks.models import OnFailure
from repositories.status import ChainOutcome, Status, at_least_warning


def in_order(attachments: Iterable) -> list:
    """Enabled attachments by (order, id)."""
    return sorted((a for a in attachments if a.enabled), key=lambda a: (a.order, a.id))


def pre_chain_outcome(results: Iterable[tuple[bool, str]]) -> tuple[ChainOutcome, int]:
    """Walk (succeeded, on_failure) results in order; return the outcome and how many ran.

    `fail` and `skip` stop the chain; `continue` is logged and the chain goes on.
    """
    outcome, ran = ChainOutcome.OK, 0
    for succeeded, on_failure in results:
        ran += 1
        if succeeded:
            continue
        if on_failure == OnFailure.FAIL:
            return ChainOutcome.FAILED, ran
        if on_failure == OnFailure.SKIP:
            return ChainOutcome.SKIPPED, ran
        outcome = ChainOutcome.WARNING
    return outcome, ran


def post_chain_status(status: Status, failed_on_failures: Iterable[str]) -> Status:
    """The status after a post chain: its failures apply only once the whole chain ran.

    A failing `fail` hook turns success/warning into failure; `continue` into at worst warning.
    """
    failures = list(failed_on_failures)
    if OnFailure.FAIL in failures and status in (Status.SUCCESS, Status.WARNING):
        return Status.FAILURE
    if failures:
        return at_least_warning(status)
    return status
