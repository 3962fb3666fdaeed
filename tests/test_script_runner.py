"""The script runner against real processes, locally and on the test sshd (docs/hooks.md#running-a-script)."""

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hooks.services.runner import SSHTarget, build_remote_payload, run_script, run_script_over_ssh

ROOT = Path(__file__).resolve().parent.parent
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
PRINT_ENV_AS_JSON = "#!/usr/bin/python3\nimport json, os\nprint(json.dumps(dict(os.environ)))\n"


def unique_duration() -> str:
    """A `sleep` argument no other process on the machine has: our marker in /proc."""
    return f"{random.randint(100_000, 999_999)}.{random.randint(100_000, 999_999)}"


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def wait_until_gone(marker: str, timeout: float = 3.0) -> list[int]:
    """Signals are asynchronous: give killed processes a moment to leave /proc."""
    deadline = time.monotonic() + timeout
    while (alive := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def spawn_tree_script(marker: str) -> str:
    """A child, a grandchild and a child that ignores SIGTERM, then the script waits."""
    return textwrap.dedent(f"""\
        #!/bin/bash
        sleep {marker} &
        (sleep {marker} & wait) &
        (trap '' TERM; sleep {marker}) &
        sleep 0.3
        echo started
        sleep {marker}
        """)


def interpreter_probe(shebang: str) -> str:
    if "python" in shebang:
        return f"{shebang}\nimport os\nprint(os.readlink('/proc/self/exe'))\n"
    return f"{shebang}\nreadlink /proc/$$/exe\n".lstrip("\n")


SHEBANGS = {
    "sh": ("#!/bin/sh", "/bin/sh"),
    "bash": ("#!/bin/bash", "/bin/bash"),
    "python3": ("#!/usr/bin/python3", "/usr/bin/python3"),
    "env python3": ("#!/usr/bin/env python3", "/usr/bin/python3"),
    "none": ("", "/bin/bash"),
}


# --- local: interpreters, environment, exit codes ---------------------------------------


@pytest.mark.parametrize("kind", SHEBANGS)
def test_the_shebang_chooses_the_interpreter(kind):
    shebang, program = SHEBANGS[kind]
    result = run_script(interpreter_probe(shebang), BASE_ENV, timeout=10)
    assert result.ok, result
    assert result.stdout.strip() == os.path.realpath(program)


def test_a_crlf_body_still_runs():
    result = run_script("#!/bin/sh\r\necho fine\r\n", BASE_ENV, timeout=10)
    assert (result.ok, result.stdout) == (True, "fine\n")


def test_the_environment_is_exactly_the_one_given(monkeypatch):
    monkeypatch.setenv("BORGUI_RUNNER_LEAK_CHECK", "from the worker")
    env = {**BASE_ENV, "BORG_UI_HOOK_TYPE": "pre-backup", "MULTI": "a\nb 'c' $(id)", "EMPTY": ""}
    result = run_script(PRINT_ENV_AS_JSON, env, timeout=10)
    assert result.ok, result
    assert json.loads(result.stdout) == env


@pytest.mark.parametrize("code", [0, 1, 3, 124, 255])
def test_exit_codes_are_reported(code):
    result = run_script(f"exit {code}", BASE_ENV, timeout=10)
    assert (result.exit_code, result.signal, result.timed_out, result.error) == (code, None, False, "")
    assert result.cli_exit_code == code
    assert result.ok is (code == 0)


@pytest.mark.parametrize(("signal_name", "number"), [("KILL", 9), ("TERM", 15)])
def test_a_script_killed_by_a_signal_reports_it(signal_name, number):
    result = run_script(f"#!/bin/sh\necho before\nkill -{signal_name} $$\necho after\n", BASE_ENV, timeout=10)
    assert (result.exit_code, result.signal, result.timed_out) == (None, number, False)
    assert result.stdout == "before\n"
    assert result.cli_exit_code == 128 + number
    assert not result.ok


def test_a_missing_interpreter_cannot_run():
    result = run_script("#!/nonexistent/bin/python9 -u\nprint(1)\n", BASE_ENV, timeout=10)
    assert not result.ok
    assert result.exit_code is None and result.signal is None
    assert "interpreter /nonexistent/bin/python9" in result.error and "not found" in result.error
    assert result.cli_exit_code == 125


def test_a_missing_working_directory_cannot_run(tmp_path):
    result = run_script("pwd", BASE_ENV, timeout=10, cwd=str(tmp_path / "gone"))
    assert "working directory" in result.error and result.cli_exit_code == 125


def test_cwd_and_stdin(tmp_path):
    # stdin is /dev/null: a script reading it must not wait for the worker's terminal.
    result = run_script("pwd; cat; echo read-done", BASE_ENV, timeout=10, cwd=str(tmp_path))
    assert result.stdout == f"{tmp_path}\nread-done\n"


def test_the_script_file_is_private_and_removed():
    result = run_script('#!/bin/sh\necho "$0"\nstat -c %a "$0" "$(dirname "$0")"\n', BASE_ENV, timeout=10)
    path, file_mode, dir_mode = result.stdout.split()
    assert (file_mode, dir_mode) == ("700", "700")
    assert not Path(path).exists() and not Path(path).parent.exists()


# --- local: timeout and children -------------------------------------------------------


def test_timeout_kills_the_whole_group_and_no_child_survives():
    marker = unique_duration()
    seen_while_running = []

    def on_output(stream, text):
        if "started" in text:
            seen_while_running.extend(processes_with(marker))

    result = run_script(spawn_tree_script(marker), BASE_ENV, timeout=1, on_output=on_output, kill_grace=0.5)
    assert len(seen_while_running) >= 3, "the child, the grandchild and the child that ignores SIGTERM"
    assert result.timed_out and not result.ok
    assert (result.exit_code, result.signal) == (None, 15)
    assert result.cli_exit_code == 124
    assert 1.4 <= result.duration < 3.5, "SIGKILL comes after the grace, for the child that ignores SIGTERM"
    assert wait_until_gone(marker) == []


def test_a_backgrounded_child_neither_holds_the_runner_nor_survives():
    marker = unique_duration()
    body = f"#!/bin/bash\nsleep {marker} &\nnohup sleep {marker} >/dev/null 2>&1 &\nsleep 0.2\necho done\n"
    result = run_script(body, BASE_ENV, timeout=30)
    assert result.ok and result.stdout == "done\n"
    assert result.duration < 3, "the default grace is 5 s; SIGTERM alone ends these children"
    assert wait_until_gone(marker) == []


def test_a_child_ignoring_sigterm_after_a_normal_exit_is_killed_after_the_grace():
    marker = unique_duration()
    body = f"#!/bin/bash\n(trap '' TERM; sleep {marker}) &\nsleep 0.2\nexit 0\n"
    result = run_script(body, BASE_ENV, timeout=30, kill_grace=0.5)
    assert result.ok and not result.timed_out
    assert result.duration < 3
    assert wait_until_gone(marker) == []


def test_without_pidfd_the_exit_is_noticed_by_polling(monkeypatch):
    import common.processes

    monkeypatch.setattr(common.processes, "_open_pidfd", lambda pid: None)  # kernels before 5.3
    marker = unique_duration()
    finished = run_script(f"sleep {marker} &\necho done\n", BASE_ENV, timeout=30)
    assert finished.ok and finished.duration < 3
    timed_out = run_script(f"sleep {marker}\n", BASE_ENV, timeout=0.5, kill_grace=0.5)
    assert timed_out.timed_out and timed_out.signal == 15
    assert wait_until_gone(marker) == []


def test_a_failing_output_callback_still_leaves_no_process():
    marker = unique_duration()

    def on_output(stream, text):
        raise RuntimeError("progress storage is down")

    with pytest.raises(RuntimeError, match="progress storage"):
        run_script(f"sleep {marker} &\necho hello\nsleep {marker}\n", BASE_ENV, timeout=30, on_output=on_output)
    assert wait_until_gone(marker) == []


# --- local: output ---------------------------------------------------------------------


def test_secrets_are_masked_across_reads_in_stdout_and_stderr():
    body = textwrap.dedent("""\
        #!/usr/bin/python3
        import sys, time
        sys.stdout.write("x" * 40 + "SUPERSEC"); sys.stdout.flush()
        time.sleep(0.2)
        sys.stdout.write("RETVALUE and hunter2\\n"); sys.stdout.flush()
        sys.stderr.write("error: hunter2 rejected\\n")
        """)
    received = []
    result = run_script(
        body,
        BASE_ENV,
        timeout=10,
        secrets=["SUPERSECRETVALUE", "hunter2", ""],
        on_output=lambda stream, text: received.append((stream, text)),
    )
    assert result.stdout == "x" * 40 + "*** and ***\n"
    assert result.stderr == "error: *** rejected\n"
    stdout_pieces = [text for stream, text in received if stream == "stdout"]
    assert len(stdout_pieces) >= 2, "the secret really arrived in two reads"
    assert "".join(stdout_pieces) == result.stdout
    assert "".join(text for stream, text in received if stream == "stderr") == result.stderr
    assert not any(part in text for _, text in received for part in ("SUPERSEC", "RETVALUE", "hunter"))


def test_utf8_split_across_reads_and_invalid_bytes():
    body = textwrap.dedent("""\
        #!/usr/bin/python3
        import sys, time
        out = sys.stdout.buffer
        out.write(b"caf\\xc3"); out.flush()
        time.sleep(0.2)
        out.write(b"\\xa9 \\xff ok\\n"); out.flush()
        """)
    result = run_script(body, BASE_ENV, timeout=10)
    assert result.stdout == "café \ufffd ok\n"


def test_large_output_is_bounded_and_the_runner_stays_small():
    # In a child interpreter, so the measurement is the runner's alone.
    probe = textwrap.dedent("""\
        import json, sys, tracemalloc
        from hooks.services.runner import run_script
        body = "#!/bin/sh\\necho BEGIN\\nhead -c 50000000 /dev/zero | tr '\\\\0' x\\necho\\necho END\\n"
        tracemalloc.start()
        result = run_script(body, {"PATH": "/usr/bin:/bin"}, timeout=60, head_chars=1000, tail_chars=1000)
        peak = tracemalloc.get_traced_memory()[1]
        print(json.dumps({
            "ok": result.ok, "stdout": result.stdout, "total": result.stdout_total, "peak": peak,
            # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would count pytest's own size.
            "maxrss_kib": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]),
        }))
        """)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout)
    assert report["ok"]
    assert report["total"] == 6 + 50_000_000 + 1 + 4
    elided = report["total"] - 2000
    assert report["stdout"] == "BEGIN\n" + "x" * 994 + f"\n[… {elided} bytes elided …]\n" + "x" * 995 + "\nEND\n"
    assert report["peak"] < 4 * 1024 * 1024, "Python allocations at peak: a few 64 KiB reads, not the output"
    assert report["maxrss_kib"] < 100 * 1024, "50 MB went through without ever being held"


def test_secrets_are_not_on_any_local_command_line():
    secret = f"local-secret-{unique_duration()}"
    command_lines_seen = []

    def on_output(stream, text):
        if "ready" in text:
            command_lines_seen.append(processes_with(secret))
            command_lines_seen.append(processes_with("borgui-script-"))

    result = run_script('echo ready; sleep 0.3; echo "$TOKEN"', {**BASE_ENV, "TOKEN": secret}, 10, [secret], on_output)
    assert result.stdout == "ready\n***\n"
    assert command_lines_seen[0] == []
    assert command_lines_seen[1], "the script was running when we looked"


# --- over SSH --------------------------------------------------------------------------


@pytest.fixture
def target(sshd):
    return SSHTarget(sshd.host, sshd.port, sshd.user, private_key=sshd.private_key, known_hosts=sshd.known_hosts)


def test_remote_names_must_be_shell_names():
    for bad in ["1ABC", "A-B", "A B", "", "A=B", "$(id)"]:
        with pytest.raises(ValueError):
            build_remote_payload("true", {bad: "x"}, 1)
    with pytest.raises(ValueError):
        build_remote_payload("true", {"A": "nul\0byte"}, 1)


def test_remote_env_carries_the_given_values_literally_and_nothing_local(target, tmp_path, monkeypatch):
    monkeypatch.setenv("BORGUI_RUNNER_LOCAL_ONLY", "worker value")
    canary = tmp_path / "canary"
    tricky = f'it\'s "quoted"\nsecond line $(touch {canary}) `touch {canary}` $HOME \\ ; & | end'
    remote_env = {"BORG_UI_HOOK_TYPE": "post-backup", "TRICKY": tricky, "EMPTY": "", "UNICODE": "crème ✓"}
    local_env = {**BASE_ENV, "HOME": os.environ.get("HOME", "/root"), "LOCAL_ONLY": "x", "LC_BORGUI_LOCAL": "y"}
    result = run_script_over_ssh(PRINT_ENV_AS_JSON, remote_env, 20, target, local_env=local_env)
    assert result.ok, result
    remote = json.loads(result.stdout)
    assert {name: remote.get(name) for name in remote_env} == remote_env
    assert not {"LOCAL_ONLY", "LC_BORGUI_LOCAL", "BORGUI_RUNNER_LOCAL_ONLY"} & remote.keys()
    assert not canary.exists(), "values are never evaluated"


@pytest.mark.parametrize("kind", ["sh", "python3", "none"])
def test_the_shebang_counts_on_the_remote_side(target, kind):
    shebang, program = SHEBANGS[kind]
    result = run_script_over_ssh(interpreter_probe(shebang), {}, 20, target)
    assert result.ok, result
    assert result.stdout.strip() == os.path.realpath(program)


def test_remote_exit_code_stdout_and_stderr(target):
    result = run_script_over_ssh("#!/bin/sh\necho out\necho err >&2\nexit 3\n", {}, 20, target)
    assert (result.exit_code, result.stdout, result.stderr, result.error) == (3, "out\n", "err\n", "")
    assert result.cli_exit_code == 3


def test_a_missing_remote_interpreter_cannot_run(target):
    result = run_script_over_ssh("#!/nonexistent/bin/python9\nprint(1)\n", {}, 20, target)
    assert result.cli_exit_code == 125 and not result.ok
    assert "interpreter /nonexistent/bin/python9 not found" in result.error


def test_a_remote_script_killed_by_a_signal(target):
    result = run_script_over_ssh("#!/bin/sh\nkill -TERM $$\n", {}, 20, target)
    assert result.cli_exit_code == 143 and not result.ok


def test_the_remote_temp_file_is_private_and_removed(target):
    result = run_script_over_ssh('#!/bin/sh\necho "$0"\nstat -c %a "$0"\n', {}, 20, target)
    path, mode = result.stdout.split()
    assert mode == "700"
    assert not Path(path).exists()


def test_a_wrong_host_key_is_refused(target, tmp_path):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key = other.with_suffix(".pub").read_text().split()[:2]
    target.known_hosts = f"[{target.host}]:{target.port} {key_type} {key}"
    canary = tmp_path / "ran"
    result = run_script_over_ssh(f"touch {canary}", {}, 20, target)
    assert not result.ok and result.cli_exit_code == 125
    assert "Host key verification failed" in result.error
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr
    assert not canary.exists()


def test_a_bare_known_hosts_entry_and_accept_new(target, tmp_path):
    target.known_hosts = " ".join(target.known_hosts.split()[1:])  # "type key", as some users paste it
    assert run_script_over_ssh("true", {}, 20, target).ok
    target.known_hosts = ""
    recorded = tmp_path / "data" / "known_hosts"
    first = run_script_over_ssh("echo first", {}, 20, target, known_hosts_file=str(recorded))
    assert first.ok and first.stderr == "", first
    lookup = ["ssh-keygen", "-F", f"[{target.host}]:{target.port}", "-f", str(recorded)]
    assert subprocess.run(lookup, capture_output=True).returncode == 0, "the host key was recorded"
    assert run_script_over_ssh("true", {}, 20, target, known_hosts_file=str(recorded)).ok
    with pytest.raises(ValueError):
        run_script_over_ssh("true", {}, 20, target)


def test_a_missing_ssh_client_cannot_run(target):
    result = run_script_over_ssh("true", {}, 20, target, ssh_binary="/nonexistent/ssh")
    assert result.cli_exit_code == 125 and "ssh" in result.error


def test_a_remote_timeout_leaves_no_remote_process(target):
    marker = unique_duration()
    seen_while_running = []

    def on_output(stream, text):
        if "started" in text:
            seen_while_running.extend(processes_with(marker))

    result = run_script_over_ssh(spawn_tree_script(marker), {}, 2, target, on_output=on_output, kill_grace=1)
    assert len(seen_while_running) >= 3
    assert result.timed_out and result.exit_code is None and result.cli_exit_code == 124
    assert 2.5 <= result.duration < 6
    assert wait_until_gone(marker) == []


def test_a_remote_background_child_neither_holds_the_runner_nor_survives(target):
    marker = unique_duration()
    body = f"#!/bin/bash\nsleep {marker} &\nsleep 0.2\necho done\n"
    result = run_script_over_ssh(body, {}, 30, target, kill_grace=1)
    assert result.ok and result.stdout == "done\n"
    assert result.duration < 4
    assert wait_until_gone(marker) == []


def test_remote_secrets_are_masked_and_on_no_command_line(target):
    secret = f"remote-secret-{unique_duration()}"
    command_lines_seen = []

    def on_output(stream, text):
        if "ready" in text:
            command_lines_seen.append(processes_with(secret))
            command_lines_seen.append(processes_with("exec sh -s") + processes_with("sh -s"))

    body = '#!/bin/sh\necho ready\nsleep 0.3\nprintf "%s" "$TOKEN" | head -c 10\necho\necho "$TOKEN" >&2\n'
    result = run_script_over_ssh(body, {"TOKEN": secret}, 20, target, secrets=[secret], on_output=on_output)
    assert result.ok, result
    assert command_lines_seen[0] == [], "the secret is on no local or remote command line"
    assert command_lines_seen[1], "ssh and the remote shell were running when we looked"
    assert result.stdout == "ready\nremote-sec\n" and result.stderr == "***\n"
