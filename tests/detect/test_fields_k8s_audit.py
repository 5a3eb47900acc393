"""`k8s_audit` field extraction over audit events in the shapes the API server posts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _corpus_fields import CORPUS, corpus_fields

from yamori.detect.fields.interface import FieldType
from yamori.detect.fields.k8s_audit import K8sAuditEvent, K8sAuditFields

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "k8s-audit"


def load(name: str, **kw: Any) -> K8sAuditEvent:
    return K8sAuditEvent(json.loads((FIX / name).read_text()), **kw)


@pytest.mark.skipif(not CORPUS.exists(), reason="rules corpus not available")
def test_every_corpus_field_is_declared() -> None:
    declared = K8sAuditFields().fields()
    missing = corpus_fields("k8s_audit_rules.yaml") - set(declared)
    assert not missing


def test_table_shape() -> None:
    f = K8sAuditFields().fields()
    assert K8sAuditFields.source == "k8s_audit" == K8sAuditEvent.source
    assert f["ka.req.pod.containers.image"].type is FieldType.STRINGS
    assert f["ka.req.pod.containers.image"].arg == "optional-index"
    assert f["ka.uri.param"].arg == "key"
    assert f["jevt.value"].arg == "key"
    assert f["ka.verb"].type is FieldType.STRING
    for name in ("ka.req.container.image", "ka.req.container.privileged", "ka.req.volume.hostpath"):
        assert name in f


def test_privileged_pod_create() -> None:
    e = load("pod-create-privileged.json")
    v = e.value
    assert v("ka.auditid") == "1c8a6a5e-3f0e-4b55-9d6e-2a7e4f1b9c01"
    assert v("ka.stage") == "ResponseComplete"
    assert v("ka.verb") == "create"
    assert v("ka.user.name") == "kubernetes-admin"
    assert v("ka.user.groups") == ["system:masters", "system:authenticated"]
    assert v("ka.auth.decision") == "allow"
    assert v("ka.auth.reason") == ""
    assert v("ka.target.resource") == "pods"
    assert v("ka.target.namespace") == "default"
    assert v("ka.target.subresource") is None
    assert v("ka.target.pod.name") == "priv-pod"
    assert v("ka.uri.param", "fieldManager") == "kubectl-client-side-apply"
    assert v("ka.uri.param", "absent") is None
    assert v("ka.req.pod.containers.image") == [
        "docker.io/library/nginx:1.25@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
        "falcosecurity/falco",
    ]
    assert v("ka.req.pod.containers.image", "1") == ["falcosecurity/falco"]
    assert v("ka.req.pod.containers.image", "5") is None
    assert v("ka.req.pod.containers.image.repository") == ["docker.io/library/nginx", "falcosecurity/falco"]
    assert v("ka.req.container.image").startswith("docker.io/library/nginx:1.25@")
    assert v("ka.req.container.image.repository") == "docker.io/library/nginx"
    assert v("ka.req.pod.containers.name") == ["app", "sidecar"]
    assert v("ka.req.pod.containers.args") == ["--help"]
    assert v("ka.req.pod.containers.privileged") == ["true"]
    assert v("ka.req.container.privileged") == "true"
    assert v("ka.req.pod.containers.read_only_fs") == ["false"]
    assert v("ka.req.pod.containers.add_capabilities") == ["NET_ADMIN", "SYS_TIME"]
    assert v("ka.req.pod.containers.run_as_user") == ["0"]
    assert v("ka.req.pod.containers.eff_run_as_user") == ["1000", "0"]
    assert v("ka.req.pod.containers.eff_run_as_group") == ["0", "0"]
    assert v("ka.req.pod.run_as_user") == "1000"
    assert v("ka.req.pod.containers.host_port") == ["8080"]
    assert v("ka.req.pod.host_network") == "true"
    assert v("ka.req.container.host_network") == "true"
    assert v("ka.req.pod.host_pid") is None
    assert v("ka.req.pod.host_ipc") is None
    assert v("ka.req.pod.volumes.hostpath") == ["/var/run/docker.sock"]
    assert v("ka.req.pod.volumes.volume_type") == ["hostPath", "configMap"]
    assert v("ka.req.pod.volumes.flexvolume_driver") == []
    assert v("ka.req.volume.hostpath", "/var/run/docker.sock") == "true"
    assert v("ka.req.volume.hostpath", "/var/run/*") == "true"
    assert v("ka.req.volume.hostpath", "/etc") == "false"
    assert v("ka.req.pod.initContainers.image") == ["busybox:1.36"]
    assert v("ka.req.pod.initContainers.command") == ["sh", "-c", "true"]
    assert v("ka.req.pod.initContainers.privileged") == []
    assert v("ka.req.pod.ephemeralContainers.image") is None
    assert v("ka.resp.name") == "priv-pod"
    assert v("ka.response.code") == "201"
    assert v("ka.response.reason") is None
    assert v("ka.useragent") == "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
    assert v("ka.sourceips") == ["172.18.0.1"]
    assert v("ka.impuser.name") is None
    assert v("ka.cluster.name") is None
    assert v("ka.req.binding.subjects") is None
    assert v("ka.req.role.rules") is None
    assert v("jevt.value", "/requestObject/spec/volumes/0/hostPath/path") == "/var/run/docker.sock"
    assert v("jevt.value", "/requestObject/spec/hostNetwork") == "true"
    assert v("jevt.value", "/stage") == "ResponseComplete"
    assert v("jevt.value", "/annotations/authorization.k8s.io~1decision") == "allow"
    assert v("jevt.value", "/requestObject/spec/volumes/1") == '{"name":"cfg","configMap":{"name":"app-cfg"}}'
    assert v("jevt.value", "/nope") is None
    assert v("jevt.value", "no-slash") is None
    assert e.time_ns() == 1714557600234567000
    assert v("jevt.rawtime") == "1714557600234567000"
    assert v("jevt.time") == "10:00:00.234567000"
    assert v("jevt.time.iso8601") == "2024-05-01T10:00:00.234567000Z"
    assert json.loads(v("jevt.obj"))["auditID"] == v("ka.auditid")


def test_pod_exec() -> None:
    e = load("pod-exec.json", cluster_name="prod-eu")
    v = e.value
    assert v("ka.target.subresource") == "exec"
    assert v("ka.target.name") == "priv-pod"
    assert v("ka.uri.param", "command") == "/bin/sh"
    assert v("ka.uri.param", "container") == "app"
    assert v("ka.impuser.name") == "system:serviceaccount:default:builder"
    assert v("ka.sourceips") == ["10.0.0.7", "192.168.1.20"]
    assert v("ka.sourceips", "1") == ["192.168.1.20"]
    assert v("ka.response.code") == "101"
    assert v("ka.cluster.name") == "prod-eu"
    assert v("ka.req.pod.containers.image") is None
    assert v("ka.req.container.privileged") is None
    assert v("ka.req.volume.hostpath", "/") is None
    assert v("ka.resp.name") is None


def test_cluster_admin_binding() -> None:
    v = load("clusterrolebinding-cluster-admin.json").value
    assert v("ka.req.binding.role") == "cluster-admin"
    assert v("ka.req.binding.subjects") == [
        '{"kind":"ServiceAccount","name":"builder","namespace":"ci"}',
        '{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory"}',
        '{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"contractors"}',
    ]
    assert v("ka.req.binding.subjects.user_names") == ["mallory"]
    assert v("ka.req.binding.subjects.serviceaccount_names") == ["builder"]
    assert v("ka.req.binding.subjects.serviceaccount_ns_names") == ["ci:builder"]
    assert v("ka.req.binding.subjects.group_names") == ["contractors"]
    assert v("ka.req.binding.subject.has_name", "mallory") == "true"
    assert v("ka.target.resource") == "clusterrolebindings"
    assert v("ka.target.namespace") is None
    assert v("ka.target.pod.name") is None


def test_configmap_with_aws_key() -> None:
    v = load("configmap-aws-key.json").value
    assert v("ka.req.configmap.name") == "app-settings"
    assert v("ka.req.configmap.obj") == '{"aws_access_key_id":"AKIAIOSFODNN7EXAMPLE","region":"eu-west-1"}'
    assert v("ka.user.name") == "system:serviceaccount:prod:deployer"


def test_role_rules() -> None:
    doc = {
        "auditID": "x",
        "requestObject": {
            "kind": "ClusterRole",
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["get", "create"]},
                {"nonResourceURLs": ["/metrics"], "verbs": ["*"]},
            ],
        },
    }
    v = K8sAuditEvent(doc).value
    assert v("ka.req.role.rules.verbs") == ["get", "create", "*"]
    assert v("ka.req.role.rules.verbs", "1") == ["*"]
    assert v("ka.req.role.rules.resources") == ["pods", "pods/exec"]
    assert v("ka.req.role.rules.apiGroups") == [""]
    assert v("ka.req.role.rules.nonResourceURLs") == ["/metrics"]
    assert v("ka.req.role.rules") == [
        '{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]}',
        '{"nonResourceURLs":["/metrics"],"verbs":["*"]}',
    ]


def test_service_fields() -> None:
    doc = {
        "auditID": "x",
        "requestObject": {"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}},
    }
    v = K8sAuditEvent(doc).value
    assert v("ka.req.service.type") == "NodePort"
    assert v("ka.req.service.ports") == ['{"port":80,"nodePort":30080}']


def test_not_an_audit_event_and_unknown_field() -> None:
    e = K8sAuditEvent({"kind": "Something"})
    assert e.value("ka.verb") is None
    assert e.value("ka.req.binding.subject.has_name", "x") is None
    assert e.value("jevt.value", "/kind") == "Something"
    assert e.time_ns() == 0
    assert e.value("jevt.rawtime") is None
    with pytest.raises(KeyError):
        e.value("ka.nope")


def test_every_declared_field_answers_on_every_fixture() -> None:
    fields = K8sAuditFields().fields()
    for path in FIX.glob("*.json"):
        e = K8sAuditEvent(json.loads(path.read_text()))
        for name, info in fields.items():
            arg = "/kind" if name == "jevt.value" else ("x" if info.arg == "key" else None)
            val = e.value(name, arg)
            if info.type is FieldType.STRINGS:
                assert val is None or (isinstance(val, list) and all(isinstance(s, str) for s in val))
            else:
                assert val is None or isinstance(val, str)


def test_epoch_timestamp_is_a_time_of_zero_not_missing() -> None:
    # The json plugin always sets jevt.rawtime ("%d" of the event time), so an event stamped at
    # the epoch has jevt.rawtime "0" (what `k8s_audit_never_true` tests); only an event with no
    # usable timestamp at all has none.
    e = K8sAuditEvent({"auditID": "x", "stageTimestamp": "1970-01-01T00:00:00.000000Z"})
    assert e.time_ns() == 0
    assert e.value("jevt.rawtime") == "0"
    assert e.value("jevt.time") == "00:00:00.000000000"
    assert e.value("jevt.time.iso8601") == "1970-01-01T00:00:00.000000000Z"
    bad = K8sAuditEvent({"auditID": "x", "stageTimestamp": "not a time"})
    assert bad.value("jevt.rawtime") is None


def test_jevt_obj_is_indented_as_the_json_plugin_prints_it() -> None:
    # Falco's json plugin: json.Indent(&out, data, "", "  ") over the event's compact JSON.
    raw = '{"auditID":"x","verb":"get","user":{"username":"a\\"b","groups":[]},"sourceIPs":["10.0.0.1",1.50]}'
    e = K8sAuditEvent(json.loads(raw), raw=raw)
    assert e.value("jevt.obj") == (
        "{\n"
        '  "auditID": "x",\n'
        '  "verb": "get",\n'
        '  "user": {\n'
        '    "username": "a\\"b",\n'
        '    "groups": []\n'
        "  },\n"
        '  "sourceIPs": [\n'
        '    "10.0.0.1",\n'
        "    1.50\n"
        "  ]\n"
        "}"
    )
    assert K8sAuditEvent(json.loads(raw)).value("jevt.obj").startswith('{\n  "auditID": "x",\n')
