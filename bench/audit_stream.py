"""A recorded-stream stand-in: realistic Kubernetes audit events and CloudTrail records.

The mix follows what a busy cluster's API server sends to an audit webhook at the Metadata /
Request levels: mostly control-plane reads and lease renewals, some writes by controllers and CI,
and a small share of the security-relevant actions Falco's rules look for (exec, privileged
pods, RBAC grants, anonymous access, NodePort services). Deterministic for a given seed, so two
runs measure the same stream.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

_NODES = [f"ip-10-0-{i // 8}-{10 + i}.eu-west-1.compute.internal" for i in range(24)]
_NAMESPACES = ["default", "kube-system", "payments", "search", "frontend", "monitoring", "ci"]
_IMAGES = [
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.42.0",
    "docker.io/library/nginx:1.25.4",
    "quay.io/prometheus/node-exporter:v1.7.0",
    "registry.k8s.io/coredns/coredns:v1.11.1",
    "ghcr.io/acme/search-indexer:2024.05.01",
]


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _base(rng: random.Random, t: datetime, verb: str, user: str, groups: list[str], agent: str,
          ref: dict[str, Any], code: int, level: str = "Metadata") -> dict[str, Any]:  # fmt: skip
    path = (
        "/api/v1"
        if ref.get("apiGroup", "") == ""
        else f"/apis/{ref['apiGroup']}/{ref.get('apiVersion', 'v1')}"
    )
    ns = ref.get("namespace")
    uri = f"{path}/namespaces/{ns}/{ref['resource']}" if ns else f"{path}/{ref['resource']}"
    if ref.get("name"):
        uri += f"/{ref['name']}"
    if ref.get("subresource"):
        uri += f"/{ref['subresource']}"
    if verb in ("list", "watch"):
        uri += "?resourceVersion=0&watch=true" if verb == "watch" else "?limit=500"
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": str(uuid.UUID(int=rng.getrandbits(128))),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": {"username": user, "groups": groups},
        "sourceIPs": [f"10.0.{rng.randrange(4)}.{rng.randrange(2, 250)}"],
        "userAgent": agent,
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": _stamp(t),
        "stageTimestamp": _stamp(t + timedelta(milliseconds=rng.randrange(1, 40))),
        "annotations": {
            "authorization.k8s.io/decision": "allow" if code < 400 else "forbid",
            "authorization.k8s.io/reason": "",
        },
    }


def _pod_spec(rng: random.Random, name: str, ns: str, privileged: bool = False) -> dict[str, Any]:
    image = rng.choice(_IMAGES)
    container: dict[str, Any] = {
        "name": "app",
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m"}},
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"}],
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
        "volumeMounts": [
            {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
        ],
    }
    volumes: list[dict[str, Any]] = [{"name": "kube-api-access", "projected": {"sources": []}}]
    if privileged:
        container["securityContext"] = {"privileged": True}
        volumes.append({"name": "host", "hostPath": {"path": "/", "type": ""}})
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": name.rsplit("-", 2)[0], "pod-template-hash": "7c9d8f6b5"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name.rsplit("-", 1)[0]}
            ],
        },
        "spec": {
            "containers": [container],
            "volumes": volumes,
            "serviceAccountName": "default",
            "nodeName": rng.choice(_NODES),
            "hostNetwork": privileged,
        },
    }


def k8s_audit_events(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` audit events in time order (about 1,000 per second of cluster time)."""
    rng = random.Random(seed)
    t = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    kinds = [
        ("lease", 30), ("kubelet_read", 25), ("controller_read", 15), ("watch", 8), ("status_patch", 6),
        ("event_create", 5), ("secret_get", 3), ("pod_create", 2), ("configmap_write", 2),
        ("token_create", 2), ("deploy_patch", 1), ("attack", 1),
    ]  # fmt: skip
    names = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    for _ in range(count):
        t += timedelta(microseconds=rng.randrange(200, 1800))
        kind = rng.choices(names, weights)[0]
        ns = rng.choice(_NAMESPACES)
        node = rng.choice(_NODES)
        if kind == "lease":
            comp = rng.choice(["kube-controller-manager", "kube-scheduler", f"system:node:{node}"])
            user = comp if comp.startswith("system:node") else f"system:{comp}"
            yield _base(rng, t, "update", user, ["system:authenticated"], f"{comp.split(':')[0]}/v1.29.3 (linux/amd64) kubernetes/6813625",
                        {"resource": "leases", "namespace": "kube-node-lease" if "node" in comp else "kube-system",
                         "name": node if "node" in comp else comp, "apiGroup": "coordination.k8s.io", "apiVersion": "v1"}, 200)  # fmt: skip
        elif kind == "kubelet_read":
            res = rng.choice(["pods", "configmaps", "secrets", "nodes", "services"])
            yield _base(rng, t, "get", f"system:node:{node}", ["system:nodes", "system:authenticated"],
                        "kubelet/v1.29.3 (linux/amd64) kubernetes/6813625",
                        {"resource": res, "namespace": None if res == "nodes" else ns, "name": f"{res[:-1]}-{rng.randrange(50)}",
                         "apiVersion": "v1"}, rng.choice([200, 200, 200, 404]))  # fmt: skip
        elif kind == "controller_read":
            res = rng.choice(["replicasets", "deployments", "endpointslices", "pods", "jobs"])
            group = {
                "replicasets": "apps",
                "deployments": "apps",
                "endpointslices": "discovery.k8s.io",
                "jobs": "batch",
            }.get(res, "")
            yield _base(rng, t, "list", "system:kube-controller-manager", ["system:authenticated"],
                        "kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/shared-informers",
                        {"resource": res, "namespace": ns, "apiGroup": group, "apiVersion": "v1"}, 200)  # fmt: skip
        elif kind == "watch":
            yield _base(rng, t, "watch", "system:serviceaccount:kube-system:coredns", ["system:serviceaccounts", "system:authenticated"],
                        "coredns/v1.11.1 (linux/amd64) kubernetes/ae2bbc2",
                        {"resource": "endpointslices", "apiGroup": "discovery.k8s.io", "apiVersion": "v1"}, 200)  # fmt: skip
        elif kind == "status_patch":
            yield _base(rng, t, "patch", f"system:node:{node}", ["system:nodes", "system:authenticated"],
                        "kubelet/v1.29.3 (linux/amd64) kubernetes/6813625",
                        {"resource": "pods", "namespace": ns, "name": f"api-7c9d8f6b5-{rng.randrange(10**5):05d}",
                         "apiVersion": "v1", "subresource": "status"}, 200)  # fmt: skip
        elif kind == "event_create":
            yield _base(rng, t, "create", f"system:node:{node}", ["system:nodes", "system:authenticated"],
                        "kubelet/v1.29.3 (linux/amd64) kubernetes/6813625",
                        {"resource": "events", "namespace": ns, "apiVersion": "v1"}, 201)  # fmt: skip
        elif kind == "secret_get":
            yield _base(rng, t, "get", f"system:serviceaccount:{ns}:default", ["system:serviceaccounts", "system:authenticated"],
                        "python-requests/2.31.0", {"resource": "secrets", "namespace": ns, "name": "db-credentials", "apiVersion": "v1"},
                        rng.choice([200, 403]))  # fmt: skip
        elif kind == "pod_create":
            name = f"api-7c9d8f6b5-{rng.randrange(10**5):05d}"
            ev = _base(rng, t, "create", "system:serviceaccount:kube-system:replicaset-controller",
                       ["system:serviceaccounts", "system:authenticated"], "kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/system:serviceaccount:kube-system:replicaset-controller",
                       {"resource": "pods", "namespace": ns, "apiVersion": "v1"}, 201, level="RequestResponse")  # fmt: skip
            ev["requestObject"] = _pod_spec(rng, name, ns)
            ev["responseObject"] = copy.deepcopy(ev["requestObject"])
            yield ev
        elif kind == "configmap_write":
            ev = _base(rng, t, rng.choice(["create", "update"]), "system:serviceaccount:ci:deployer",
                       ["system:serviceaccounts", "system:authenticated"], "argocd-application-controller/v2.10.4",
                       {"resource": "configmaps", "namespace": ns, "name": "app-config", "apiVersion": "v1"}, 200, level="Request")  # fmt: skip
            ev["requestObject"] = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "app-config", "namespace": ns},
                                   "data": {"LOG_LEVEL": "info", "FEATURE_FLAGS": "search,checkout"}}  # fmt: skip
            yield ev
        elif kind == "token_create":
            yield _base(rng, t, "create", f"system:node:{node}", ["system:nodes", "system:authenticated"],
                        "kubelet/v1.29.3 (linux/amd64) kubernetes/6813625",
                        {"resource": "serviceaccounts", "namespace": ns, "name": "default", "apiVersion": "v1",
                         "subresource": "token"}, 201)  # fmt: skip
        elif kind == "deploy_patch":
            yield _base(rng, t, "patch", "system:serviceaccount:ci:deployer", ["system:serviceaccounts", "system:authenticated"],
                        "argocd-application-controller/v2.10.4",
                        {"resource": "deployments", "namespace": ns, "name": "api", "apiGroup": "apps", "apiVersion": "v1"}, 200)  # fmt: skip
        else:
            yield _attack(rng, t, ns, node)


def _attack(rng: random.Random, t: datetime, ns: str, node: str) -> dict[str, Any]:
    what = rng.choice(["exec", "privileged", "crb", "anonymous", "nodeport"])
    dev = (
        "dev@example.com",
        ["developers", "system:authenticated"],
        "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
    )
    if what == "exec":
        ev = _base(rng, t, "create", *dev, {"resource": "pods", "namespace": ns, "name": "api-7c9d8f6b5-00042",
                   "apiVersion": "v1", "subresource": "exec"}, 101, level="Request")  # fmt: skip
        ev["requestURI"] += "?command=%2Fbin%2Fsh&container=app&stdin=true&stdout=true&tty=true"
        return ev
    if what == "privileged":
        ev = _base(
            rng,
            t,
            "create",
            *dev,
            {"resource": "pods", "namespace": ns, "apiVersion": "v1"},
            201,
            level="RequestResponse",
        )
        ev["requestObject"] = _pod_spec(rng, "debug-pod", ns, privileged=True)
        return ev
    if what == "crb":
        ev = _base(rng, t, "create", *dev, {"resource": "clusterrolebindings", "name": "dev-admin",
                   "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"}, 201, level="Request")  # fmt: skip
        ev["requestObject"] = {"kind": "ClusterRoleBinding", "metadata": {"name": "dev-admin"},
                               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                               "subjects": [{"kind": "User", "name": "dev@example.com"}]}  # fmt: skip
        return ev
    if what == "anonymous":
        return _base(rng, t, "get", "system:anonymous", ["system:unauthenticated"], "curl/8.5.0",
                     {"resource": "secrets", "namespace": "kube-system", "apiVersion": "v1"}, 403)  # fmt: skip
    ev = _base(
        rng,
        t,
        "create",
        *dev,
        {"resource": "services", "namespace": ns, "name": "debug", "apiVersion": "v1"},
        201,
        level="Request",
    )
    ev["requestObject"] = {"kind": "Service", "metadata": {"name": "debug", "namespace": ns},
                           "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}  # fmt: skip
    return ev


_CT_EVENTS = [
    ("s3.amazonaws.com", "GetObject", True, 30), ("s3.amazonaws.com", "PutObject", False, 10),
    ("sts.amazonaws.com", "AssumeRole", False, 10), ("ec2.amazonaws.com", "DescribeInstances", True, 10),
    ("kms.amazonaws.com", "Decrypt", True, 15), ("logs.amazonaws.com", "PutLogEvents", False, 5),
    ("ecr.amazonaws.com", "GetAuthorizationToken", True, 5), ("iam.amazonaws.com", "GetRole", True, 4),
    ("dynamodb.amazonaws.com", "DescribeTable", True, 4), ("lambda.amazonaws.com", "Invoke", False, 3),
    ("signin.amazonaws.com", "ConsoleLogin", False, 1), ("iam.amazonaws.com", "CreateUser", False, 1),
    ("s3.amazonaws.com", "PutBucketPolicy", False, 1), ("ec2.amazonaws.com", "RunInstances", False, 1),
]  # fmt: skip


def cloudtrail_records(count: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """``count`` CloudTrail records: mostly data-plane reads by roles, a few risky management calls."""
    rng = random.Random(seed)
    t = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    weights = [w for *_, w in _CT_EVENTS]
    for _ in range(count):
        t += timedelta(milliseconds=rng.randrange(1, 20))
        source, name, read_only, _w = rng.choices(_CT_EVENTS, weights)[0]
        role = rng.choice(["app-payments", "ci-deployer", "node-group-a", "lambda-exec"])
        human = name in ("ConsoleLogin", "CreateUser", "PutBucketPolicy")
        identity: dict[str, Any]
        if human:
            identity = {"type": "IAMUser", "principalId": "AIDA4Q7XH2KZEXAMPLE1", "arn": "arn:aws:iam::123456789012:user/alice",
                        "accountId": "123456789012", "userName": "alice"}  # fmt: skip
        else:
            identity = {
                "type": "AssumedRole", "principalId": f"AROA4Q7XH2KZ{role.upper()[:8]}:i-0abc", "accountId": "123456789012",
                "arn": f"arn:aws:sts::123456789012:assumed-role/{role}/i-0abc", "accessKeyId": "ASIA4Q7XH2KZEXAMPLE",
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROA4Q7XH2KZEXAMPLE", "arn": f"arn:aws:iam::123456789012:role/{role}",
                                                     "accountId": "123456789012", "userName": role},
                                   "attributes": {"creationDate": _stamp(t - timedelta(minutes=5))[:-8] + "Z", "mfaAuthenticated": "false"}},
            }  # fmt: skip
        params: dict[str, Any] | None = None
        extra: dict[str, Any] = {}
        if source == "s3.amazonaws.com":
            params = {
                "bucketName": rng.choice(["acme-data", "acme-logs", "acme-artifacts"]),
                "key": f"obj/{rng.randrange(10**6)}.parquet",
            }
        elif name == "ConsoleLogin":
            extra = {"responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": rng.choice(["Yes", "No"]),
                     "LoginTo": "https://console.aws.amazon.com/console/home"}}  # fmt: skip
        elif name == "CreateUser":
            params = {"userName": f"svc-{rng.randrange(1000)}"}
        elif name == "PutBucketPolicy":
            params = {
                "bucketName": "acme-data",
                "bucketPolicy": {"Version": "2012-10-17", "Statement": []},
                "policy": "",
            }
        elif name == "AssumeRole":
            params = {"roleArn": f"arn:aws:iam::123456789012:role/{role}", "roleSessionName": "i-0abc"}
        record = {
            "eventVersion": "1.09", "userIdentity": identity, "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source, "eventName": name, "awsRegion": rng.choice(["eu-west-1", "us-east-1"]),
            "sourceIPAddress": "203.0.113.24" if human else f"10.0.{rng.randrange(4)}.{rng.randrange(250)}",
            "userAgent": "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1" if not human else "Mozilla/5.0",
            "requestParameters": params, "responseElements": None,
            "requestID": str(uuid.UUID(int=rng.getrandbits(128))), "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
            "readOnly": read_only, "eventType": "AwsConsoleSignIn" if name == "ConsoleLogin" else "AwsApiCall",
            "managementEvent": source != "s3.amazonaws.com", "recipientAccountId": "123456789012",
            "eventCategory": "Data" if source == "s3.amazonaws.com" else "Management",
        }  # fmt: skip
        record.update(extra)
        yield record


def write_jsonl(events: Iterator[dict[str, Any]], path: str) -> int:
    n = 0
    with open(path, "w") as fh:
        for ev in events:
            fh.write(json.dumps(ev, separators=(",", ":")) + "\n")
            n += 1
    return n
