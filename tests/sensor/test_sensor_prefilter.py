"""The open prefilter: the analysis of the rules (pure) and its BPF twin (real bpftrace, root).

The analysis must only ever over-approximate: an open some rule can match is always sent. The
kernel test is checked path by path against ``PathFilter.admits``, its user-space twin, by
opening real paths from a child process while the generated program runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.podman import Podman
from support.sensor import STABLE, Sensor
from yamori.detect.compiler import compile_ruleset
from yamori.detect.rules import load_rules_files
from yamori.detect.sources import field_classes
from yamori.sensor.bpftrace import SEP, STRLEN, generate_program
from yamori.sensor.prefilter import (
    ALL_MODES,
    PathAtom,
    PathFilter,
    condition_atoms,
    describe,
    open_path_filter,
)

CORPUS = Path("/work/shared/corpora/falco-rules")
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2


def _compile(text: str, tmp_path: Path) -> PathFilter:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    compiled = compile_ruleset(load_rules_files([str(path)]), field_classes(["syscall"]))
    assert not compiled.errors, compiled.errors
    return open_path_filter(compiled)


MACROS = """
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)
- macro: open_write
  condition: (evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)
"""


def _rule(name: str, condition: str) -> str:
    return f"- rule: {name}\n  desc: d\n  condition: {condition}\n  output: o\n  priority: WARNING\n"


# --------------------------------------------------------------------------- the analysis


def test_modes_prefixes_and_exact_paths(tmp_path: Path) -> None:
    flt = _compile(
        MACROS
        + _rule("r1", "open_read and fd.name startswith /etc/ and fd.name in (/etc/shadow, /etc/sudoers)")
        + _rule("r2", "open_write and fd.directory in (/var/log, /var/lib/app/)")
        + _rule("r3", "open_read and (fd.name pmatch (/srv/data) or fd.name glob '/opt/*/secrets/*')"),
        tmp_path,
    )
    assert flt.atoms is not None
    assert flt.admits("/etc/shadow", O_RDONLY) and flt.admits("/etc/sudoers", O_RDWR)
    assert not flt.admits("/etc/shadow", O_WRONLY)  # r1 reads only
    assert not flt.admits("/etc/shadowx", O_RDONLY) and not flt.admits("/etc/hosts", O_RDONLY)
    assert flt.admits("/var/log/syslog", O_WRONLY) and flt.admits("/var/lib/app/x", O_RDWR)
    assert not flt.admits("/var/log/syslog", O_RDONLY)
    assert flt.admits("/srv/data/x", O_RDONLY) and flt.admits("/opt/a/secrets/k", O_RDONLY)
    assert not flt.admits("/tmp/file", O_RDONLY) and not flt.admits("/tmp/file", O_RDWR)
    # paths the kernel cannot judge are always sent: relative, not normalised, or too long
    for path in ("file", "../etc/shadow", "/tmp/../etc/shadow", "/etc/./hosts", "/tmp//x", "/a..b"):
        assert flt.admits(path, O_RDONLY), path
    assert flt.admits("/tmp/" + "x" * 300, O_RDONLY)
    assert flt.admits("/tmp/file", None) is False  # unknown flags: both modes, still no rule


def test_branches_for_other_event_types_drop_out(tmp_path: Path) -> None:
    """``evt.type = execve and ...`` says nothing about opens; ``or`` with it keeps the open part."""
    flt = _compile(
        MACROS
        + _rule("r", "(evt.type = execve and proc.name = sh) or (open_read and fd.name = /etc/shadow)"),
        tmp_path,
    )
    assert flt.atoms == frozenset({PathAtom(frozenset({0, 2}), "/etc/shadow", True)})


def test_anything_not_understood_widens(tmp_path: Path) -> None:
    # a negated path test, a regex, a transformer: the rule can match any read
    for cond in (
        "open_read and not fd.name startswith /etc",
        "open_read and fd.name regex '/etc/.*'",
        "open_read and tolower(fd.name) = /etc/shadow",
        "open_read and proc.name = cat",
    ):
        flt = _compile(MACROS + _rule("r", cond), tmp_path)
        assert flt.admits("/tmp/anything", O_RDONLY), cond
        assert not flt.admits("/tmp/anything", O_WRONLY), cond
    # a rule on every open type and every mode disables the filter
    flt = _compile(_rule("r", "evt.type in (open, openat) and proc.name = cat"), tmp_path)
    assert flt.passes_everything and "every open" in describe(flt)


def test_suffixes_and_contains_in_the_kernel(tmp_path: Path) -> None:
    """Basenames and ``endswith`` become suffix atoms (tested in the kernel on the last 8 bytes);
    other substring tests are not made in the kernel: such an atom keeps its mode and prefix."""
    flt = _compile(
        MACROS
        + _rule("r", "open_write and (fd.filename in (syslog, auth.log) or fd.name endswith release_agent)")
        + _rule("s", "open_read and fd.name contains '../' and fd.name startswith /etc/")
        + _rule("t", "open_write and fd.name startswith /srv/ and fd.name contains secret"),
        tmp_path,
    )
    assert flt.atoms is not None
    assert any(a.suffix == "/syslog" for a in flt.atoms)
    assert flt.admits("/var/tmp/syslog", O_WRONLY) and flt.admits("/x/auth.log", O_RDWR)
    assert flt.admits("/sys/fs/cgroup/x/release_agent", O_WRONLY)
    assert not flt.admits("/var/tmp/syslog", O_RDONLY)  # writes only
    assert not flt.admits("/var/tmp/xsyslog", O_WRONLY) and not flt.admits("/tmp/anything", O_WRONLY)
    assert flt.admits("/srv/anything", O_WRONLY)  # 'contains secret' widened to the prefix
    assert not flt.admits("/etc/hosts", O_RDONLY)  # the '../' atom is covered by the shape test
    assert flt.admits("/etc/../etc/hosts", O_RDONLY)


@pytest.mark.parametrize(
    "name", ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
)
def test_falco_rule_files_analyse(name: str) -> None:
    if not (CORPUS / name).exists():
        pytest.skip(f"{CORPUS / name} is not present")
    compiled = compile_ruleset(load_rules_files([str(CORPUS / name)]), field_classes(["syscall"]))
    flt = open_path_filter(compiled)
    if name == "falco_rules.yaml":
        # what the stable rules read: sensitive files under /etc, traversal, ssh keys
        assert flt.admits("/etc/shadow", O_RDONLY) and flt.admits("/etc/pam.d/sshd", O_RDONLY)
        assert not flt.admits("/usr/lib/python3.11/os.py", O_RDONLY)
        assert not flt.admits("/tmp/data.bin", O_RDONLY)
        assert flt.admits("/var/log/syslog", O_WRONLY)
    # soundness spot check: for every rule that names opens, a path its condition names
    # literally (an `=`/`in` value starting with /) is admitted in the rule's modes
    for rule in compiled.rules:
        atoms = condition_atoms(rule.condition)
        for atom in atoms:
            if atom.exact:
                assert flt.atoms is None or any(flt.admits(atom.text, m) for m in atom.modes), (
                    rule.name,
                    atom,
                )
    assert all(isinstance(a.modes, frozenset) and a.modes <= ALL_MODES for a in flt.atoms or ())


# --------------------------------------------------------------------------- the kernel twin

OPENER = r"""
import json, os, sys
for path, flags in json.loads(sys.argv[1]):
    try:
        os.close(os.open(path, flags))
    except OSError:
        pass
print("done", flush=True)
"""


def test_kernel_test_matches_its_user_space_twin(capture_ready: None, tmp_path: Path) -> None:
    """The generated BPF decides exactly as ``admits`` for paths that probe every branch."""
    long_prefix = "/averyveryverylongdirectory/with/more/than/three/words/"
    flt = PathFilter(
        frozenset(
            {
                PathAtom(frozenset({0, 2}), "/etc/shadow", True),
                PathAtom(frozenset({0, 2}), "/etc/pam.d/"),
                PathAtom(frozenset({1, 2}), "/var/log/"),
                PathAtom(ALL_MODES, long_prefix),
                PathAtom(frozenset({1, 2}), "", suffix="/syslog"),
                PathAtom(ALL_MODES, "/srv/", suffix="release_agent"),
            }
        )
    )
    program, _, _ = generate_program(
        ["openat", "open"], 0x7FFFFFF0, emit_failed_opens=True, open_filter=flt, host_mntns=None
    )
    base = str(tmp_path)
    cases = [
        ("/etc/shadow", O_RDONLY), ("/etc/shadow", O_WRONLY), ("/etc/shadowx", O_RDONLY),
        ("/etc/pam.d/yamori-none", O_RDONLY), ("/etc/pam.dx", O_RDONLY), ("/etc/hosts", O_RDONLY),
        (f"{base}/nope", O_RDONLY), (f"{base}/./nope", O_RDONLY), (f"{base}//nope", O_RDONLY),
        (f"{base}/a..b", O_RDONLY), (f"{base}/a.b/c", O_RDONLY), ("yamori-relative", O_RDONLY),
        ("/var/log/yamori-none", O_WRONLY), ("/var/log/yamori-none", O_RDONLY),
        (long_prefix + "x", O_RDONLY), (long_prefix[:-2] + "X/x", O_RDONLY),
        (f"{base}/" + "y" * 220, O_RDONLY), (f"{base}/" + "z" * 150, O_RDONLY),
        ("/srv/release_agent", O_RDONLY), ("/srv/x/release_agentx", O_RDONLY),
        ("/tmp/release_agent", O_RDONLY), (f"{base}/xsyslog", O_WRONLY), (f"{base}/syslog", O_RDONLY),
    ]  # fmt: skip
    # the NUL at every position of its word: suffixes straddle two words or fill one
    cases += [(f"/{'d' * n}/syslog", O_WRONLY) for n in range(1, 10)]
    cases += [(f"/{'e' * n}/syslox", O_WRONLY) for n in range(1, 10)]
    bpf = subprocess.Popen(
        ["bpftrace", "-f", "json", "-e", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        errors="surrogateescape", env=dict(os.environ, BPFTRACE_STRLEN=str(STRLEN)),
    )  # fmt: skip
    assert bpf.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(bpf.stdout or ()), daemon=True)
    reader.start()
    try:
        # bpftrace says "attached" before the last probe is live: open a marker (relative paths
        # always pass) until it comes back, then the real cases
        marker = f"yamori-sync-{os.getpid()}"
        deadline = time.monotonic() + 90
        while not any(marker in line for line in list(lines)):
            assert time.monotonic() < deadline and bpf.poll() is None, "bpftrace never saw the marker"
            with contextlib.suppress(OSError):
                os.close(os.open(marker, os.O_RDONLY))
            time.sleep(0.2)
        child = subprocess.run(
            [sys.executable, "-c", OPENER, json.dumps(cases)], capture_output=True, text=True, check=True
        )
        assert "done" in child.stdout
        time.sleep(1.0)
    finally:
        bpf.send_signal(2)
        bpf.wait(timeout=120)
        reader.join(10)
    out = "".join(lines)
    sent: set[tuple[str, int]] = set()
    for line in out.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        data = doc.get("data")
        if doc.get("type") != "printf" or not isinstance(data, str) or not data.startswith("S"):
            continue
        fields = data.rstrip("\n").split(SEP)
        if fields[4] in ("open", "openat"):
            flags = int(fields[9] if fields[4] == "openat" else fields[8])
            sent.add((fields[-1], flags & 3))
    for path, flags in cases:
        printed = path[: STRLEN - 1]  # bpftrace prints at most STRLEN - 1 bytes of a string
        assert ((printed, flags) in sent) == flt.admits(path, flags), (path, flags)


def test_sensor_filters_host_opens_and_coalesces_container_repeats(
    capture_ready: None, podman: Podman
) -> None:
    """Host: opens of an unwatched file are dropped in the kernel (counted). Container: repeated
    opens of one file are coalesced, while a watched file read in a loop alerts every time."""
    if not STABLE.exists():
        pytest.skip(f"{STABLE} is not present")
    quiet = Path("/tmp") / f"yamori-prefilter-{os.getpid()}"
    s = Sensor(podman.env)
    try:
        s.wait_ready()
        script = (
            "import os\n"
            "for _ in range(3000): os.close(os.open('/etc/hostname', 0))\n"
            "for _ in range(3): os.close(os.open('/etc/shadow', 0))\n"
        )
        podman.run(
            "run", "--rm", "--network", "none", "--name", "yamori-pf", podman.image, "python3", "-c", script
        )
        s.wait_rule("Read sensitive file untrusted", "yamori-pf")
        # the alert proves every probe is live ("ready" comes as bpftrace starts attaching)
        quiet.write_text("x")
        subprocess.run(
            [sys.executable, "-c", f"import os\nfor _ in range(2000): os.close(os.open({str(quiet)!r}, 0))"],
            check=True,
        )
        time.sleep(3.0)  # the counters are printed every 2 s
    finally:
        status = s.stop()
        quiet.unlink(missing_ok=True)
    summary = next(line for line in status if "kernel_filtered=" in line)
    filtered = int(summary.split("kernel_filtered=")[1].split()[0])
    coalesced = int(summary.split("kernel_coalesced=")[1].split()[0])
    assert filtered >= 2000, summary
    assert coalesced >= 2500, summary
    shadow = [
        a for a in s.drain()
        if a["rule"] == "Read sensitive file untrusted"
        and a["output_fields"].get("container.name") == "yamori-pf"
    ]  # fmt: skip
    assert len(shadow) == 3, [a["output"] for a in shadow]
