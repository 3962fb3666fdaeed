"""Properties that hold for any input (hypothesis), beside the table of hostile cases
(tests/hostilekit.py): the hook environment, names, masking and the status rules."""

import itertools
import re
import subprocess

from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from common.text import MASK, SecretMasker, mask, printable
from common.validators import validate_object_name
from hooks.parameters import parameter_name_problem, proposed_parameters
from hooks.services.environment import HookContext, PlanInfo, RepositoryInfo, build_hook_environment
from repositories.status import ChainOutcome, Status, combine, overall_status

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text a user could type or a file could hold: any character but NUL, which no environment holds.
any_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=60)
env_name = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")
BORGUI_SECRETS = {
    "SECRET_KEY": "django-secret",
    "BORGUI_ENCRYPTION_KEY": "fernet-key",
    "DATABASE_URL": "postgres://u:pw@db/borgui",
    "BORG_PASSPHRASE": "passphrase",
    "DJANGO_SUPERUSER_PASSWORD": "first-admin",
    "BORG_UI_HOOK_TYPE": "forged",
}


def _context(name: str) -> HookContext:
    return HookContext(
        hook_type="post-backup",
        backup_status="success",
        repository=RepositoryInfo(1, name, "/backups/" + name),
        plan=PlanInfo(2, name, 3),
    )


def _child_environment(env: dict[str, str]) -> dict[str, str]:
    """What a real child process sees of ENV (env -0: one NUL-terminated NAME=VALUE each)."""
    out = subprocess.run(["/usr/bin/env", "-0"], env=env, capture_output=True, check=True).stdout
    return dict(item.decode().split("=", 1) for item in out.split(b"\0") if item)


parameters = st.dictionaries(env_name.filter(lambda name: not parameter_name_problem(name)), any_text, max_size=6)
inherited = st.dictionaries(env_name, any_text, max_size=6)


@FAST
@given(inherited=inherited, parameters=parameters, repository_name=any_text)
@example(inherited={}, parameters={"A": "x\nB=injected"}, repository_name="n\nBORG_UI_HOOK_TYPE=pre")
def test_the_hook_environment_reaches_the_child_exactly_and_keeps_borguis_secrets(
    inherited, parameters, repository_name
):
    process_env = {**inherited, **BORGUI_SECRETS}
    env = build_hook_environment(process_env, _context(repository_name), parameters)
    # Names and values never break out: the child gets exactly these variables, verbatim.
    assert _child_environment(env) == env
    # borgui's settings and secrets never reach a hook; its BORG_UI_* set is borgui's own.
    assert not {"SECRET_KEY", "BORGUI_ENCRYPTION_KEY", "DATABASE_URL", "BORG_PASSPHRASE"} & set(env)
    assert not any(name.startswith("DJANGO_SUPERUSER_") for name in env)
    assert env["BORG_UI_HOOK_TYPE"] == "post-backup" and env["BORG_UI_REPOSITORY_NAME"] == repository_name
    assert {name: env[name] for name in parameters} == parameters


@FAST
@given(name=st.text(max_size=30))
def test_a_parameter_name_that_passes_cannot_change_what_a_script_runs(name):
    if parameter_name_problem(name):
        return
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
    assert not name.startswith(("BORG_", "LD_", "BASH_FUNC_", "PYTHON", "PERL5", "RUBY"))
    assert name not in {"PATH", "BASH_ENV", "ENV", "SHELLOPTS", "PS4", "IFS", "NODE_OPTIONS", "GCONV_PATH"}
    assert name not in {"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"}


@FAST
@given(body=st.text(max_size=200))
def test_parameters_proposed_from_any_body_pass_the_name_rules(body):
    assert all(parameter_name_problem(name) == "" for name in proposed_parameters(body))


@FAST
@given(name=st.text(max_size=120))
@example(name="..")
@example(name="-rf")
@example(name="a\n")
def test_an_object_name_that_passes_is_safe_as_an_argument_and_a_path_part(name):
    try:
        validate_object_name(name)
    except ValidationError:
        return
    assert 1 <= len(name) <= 100
    assert name[0].isascii() and name[0].isalnum()  # never an option, never "." or ".."
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name)  # no shell, glob, path or control character


@FAST
@given(
    before=any_text,
    after=any_text,
    secret=st.text(st.characters(exclude_characters="*\x00"), min_size=1, max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_a_secret_is_masked_however_the_output_is_cut_into_reads(before, after, secret, cuts):
    text = before + secret + after
    masker = SecretMasker([secret])
    pieces = [text[a:b] for a, b in itertools.pairwise([0, *sorted(c % (len(text) + 1) for c in cuts), len(text)])]
    streamed = "".join(masker.feed(piece) for piece in pieces) + masker.flush()
    assert streamed == mask(text, [secret])
    assert secret not in streamed and MASK in streamed


@FAST
@given(text=st.text(max_size=100))
def test_printable_text_holds_no_control_character_and_is_stable(text):
    shown = printable(text)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]", shown)
    assert printable(shown) == shown
    assert len(shown) == len(text)
    shown.encode("utf-8")  # storable: no lone surrogate


# --- the status rules of docs/running-plans.md ------------------------------------------------

job_status = st.sampled_from([Status.SUCCESS, Status.WARNING, Status.FAILURE, Status.SKIPPED])
outcome = st.sampled_from(list(ChainOutcome))
SEVERITY = {Status.SUCCESS: 0, Status.SKIPPED: 1, Status.WARNING: 1, Status.FAILURE: 2}
OUTCOME_ORDER = [ChainOutcome.OK, ChainOutcome.WARNING, ChainOutcome.SKIPPED, ChainOutcome.FAILED]


@FAST
@given(pre=outcome, statuses=st.lists(job_status, min_size=1, max_size=6), seed=st.randoms())
def test_the_run_status_does_not_depend_on_the_order_of_its_jobs(pre, statuses, seed):
    shuffled = list(statuses)
    seed.shuffle(shuffled)
    assert overall_status(pre, statuses) == overall_status(pre, shuffled)


@FAST
@given(pre=outcome, statuses=st.lists(job_status, min_size=1, max_size=6), extra=job_status)
def test_one_more_job_never_makes_a_run_better(pre, statuses, extra):
    before, after = overall_status(pre, statuses), overall_status(pre, [*statuses, extra])
    assume(not (before == Status.SKIPPED or after == Status.SKIPPED))  # all skipped is its own case
    assert SEVERITY[after] >= SEVERITY[before]
    if extra == Status.FAILURE:
        assert after == Status.FAILURE


@FAST
@given(statuses=st.lists(job_status, min_size=1, max_size=6), better=outcome, worse=outcome)
def test_a_worse_plan_pre_chain_never_makes_a_run_better(statuses, better, worse):
    assume(OUTCOME_ORDER.index(better) <= OUTCOME_ORDER.index(worse) and worse != ChainOutcome.SKIPPED)
    assert SEVERITY[overall_status(worse, statuses)] >= SEVERITY[overall_status(better, statuses)]


@FAST
@given(a=outcome, b=outcome, c=outcome)
def test_combining_chain_outcomes_keeps_the_worst_in_any_order(a, b, c):
    assert combine(a, b) == combine(b, a)
    assert combine(combine(a, b), c) == combine(a, combine(b, c))
    assert combine(a, a) == a and combine(ChainOutcome.OK, a) == a
    assert OUTCOME_ORDER.index(combine(a, b)) == max(OUTCOME_ORDER.index(a), OUTCOME_ORDER.index(b))
