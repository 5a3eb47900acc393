"""`k8s_audit` fields: Falco's k8saudit plugin (`ka.*`) plus the json plugin's `jevt.*` aliases.

Falco's Kubernetes audit rules are written against these exact names and value renderings
(booleans and numbers as their JSON text, list fields as one string per element), so a rule
shared by the community must see the same strings here that it sees in Falco. Values are computed
lazily from the parsed `audit.k8s.io/v1` `Event` object; nothing is pre-extracted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from yamori.detect.fields._time import ns_to_clock, ns_to_iso8601, parse_rfc3339_ns
from yamori.detect.fields.interface import FieldClass, FieldInfo, FieldType
from yamori.detect.fields.jsonevent import JsonEvent
from yamori.detect.fields.jsonptr import pointer_text, to_text

S = FieldType.STRING
L = FieldType.STRINGS

# A value absent at some level of a walk (distinct from JSON null, which renders as "null").
_NA: Any = object()

# The pod-spec list each container-level field family reads.
_CONTAINER_LISTS = {
    "containers": "containers",
    "initContainers": "initContainers",
    "ephemeralContainers": "ephemeralContainers",
}


def _get(obj: Any, *keys: str) -> Any:
    """Walk object keys; `_NA` as soon as one is missing or the value is not an object."""
    cur = obj
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return _NA
        cur = cur[k]
    return cur


def _str(obj: Any, *keys: str) -> str | None:
    """A scalar field: the JSON text of the value, None when absent."""
    v = _get(obj, *keys)
    return None if v is _NA else to_text(v)


def _strlist(obj: Any, *keys: str) -> list[str] | None:
    """A list field read straight from a JSON array; None when absent or not an array."""
    v = _get(obj, *keys)
    if not isinstance(v, list):
        return None
    return [to_text(x) for x in v]


def _index(arg: str | None) -> int | None:
    """Optional `[i]` index argument; a non-numeric argument selects nothing (None -> all)."""
    if arg is None or arg == "":
        return None
    try:
        return int(arg)
    except ValueError:
        return -1


def _pick(items: list[Any], arg: str | None) -> list[Any] | None:
    """Apply an optional index: all items, the one selected, or None when out of range."""
    idx = _index(arg)
    if idx is None:
        return items
    if idx < 0 or idx >= len(items):
        return None
    return [items[idx]]


def _repository(image: str) -> str:
    """Image reference minus tag and digest, split as the plugin does (first ':' then '@')."""
    return image.split(":", 1)[0].split("@", 1)[0]


def _go_indent(text: str) -> str:
    """JSON text re-spaced as Go's ``json.Indent(dst, src, "", "  ")`` does it.

    Tokens are kept as written (numbers, string escapes); whitespace between them is dropped;
    each element goes on its own line, ``": "`` separates keys, and ``{}``/``[]`` stay empty.
    """
    out: list[str] = []
    depth = 0
    need_indent = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            token, i = text[i : j + 1], j + 1
        elif c in " \t\r\n":
            i += 1
            continue
        else:
            token, i = c, i + 1
        if need_indent and token not in ("}", "]"):
            out.append("\n" + "  " * depth)
        if token in ("{", "["):
            need_indent = True
            depth += 1
            out.append(token)
            continue
        if token in ("}", "]"):
            depth -= 1
            if not need_indent:
                out.append("\n" + "  " * depth)
        need_indent = False
        if token == ",":
            out.append(",\n" + "  " * depth)
        elif token == ":":
            out.append(": ")
        else:
            out.append(token)
    return "".join(out)


def _field_table() -> list[FieldInfo]:
    """Every field with its Falco type and argument kind (the compiler type-checks against it)."""
    f: list[FieldInfo] = [
        FieldInfo("ka.auditid", S, "The unique id of the audit event"),
        FieldInfo("ka.stage", S, "Stage of the request (e.g. RequestReceived, ResponseComplete)"),
        FieldInfo("ka.auth.decision", S, "The authorization decision"),
        FieldInfo("ka.auth.reason", S, "The authorization reason"),
        FieldInfo("ka.auth.openshift.decision", S, "OpenShift apiserver authorization decision"),
        FieldInfo("ka.auth.openshift.username", S, "OpenShift authenticated user name"),
        FieldInfo(
            "ka.validations.admission.policy.failure",
            S,
            "The validation failure reason from a ValidatingAdmissionPolicy",
        ),
        FieldInfo("ka.security.pod.violations", S, "Pod Security admission audit violations"),
        FieldInfo("ka.user.name", S, "The user name performing the request"),
        FieldInfo("ka.user.groups", L, "The groups to which the user belongs"),
        FieldInfo("ka.impuser.name", S, "The impersonated user name"),
        FieldInfo("ka.verb", S, "The action being performed"),
        FieldInfo("ka.uri", S, "The request URI as sent from client to server"),
        FieldInfo("ka.uri.param", S, "The value of a query parameter in the uri", "key"),
        FieldInfo("ka.target.name", S, "The target object name"),
        FieldInfo("ka.target.namespace", S, "The target object namespace"),
        FieldInfo("ka.target.resource", S, "The target object resource"),
        FieldInfo("ka.target.subresource", S, "The target object subresource"),
        FieldInfo("ka.target.pod.name", S, "The target pod name"),
        FieldInfo("ka.req.binding.subjects", L, "The subjects linked by a (cluster) role binding"),
        FieldInfo("ka.req.binding.subjects.user_names", L, "Binding subjects of kind User"),
        FieldInfo(
            "ka.req.binding.subjects.serviceaccount_names",
            L,
            "Binding subjects of kind ServiceAccount",
        ),
        FieldInfo(
            "ka.req.binding.subjects.serviceaccount_ns_names",
            L,
            "Binding service accounts as namespace:name",
        ),
        FieldInfo("ka.req.binding.subjects.group_names", L, "Binding subjects of kind Group"),
        FieldInfo("ka.req.binding.role", S, "The role linked by a (cluster) role binding"),
        FieldInfo(
            "ka.req.binding.subject.has_name",
            S,
            "Deprecated; kept for backwards compatibility (always true)",
            "key",
        ),
        FieldInfo("ka.req.configmap.name", S, "If the request object is a configmap, its name"),
        FieldInfo("ka.req.configmap.obj", S, "If the request object is a configmap, its data"),
        FieldInfo("ka.req.container.image", S, "Deprecated: the image of the first container"),
        FieldInfo(
            "ka.req.container.image.repository",
            S,
            "Deprecated: the repository of the first container's image",
        ),
        FieldInfo("ka.req.pod.host_ipc", S, "The pod's hostIPC flag"),
        FieldInfo("ka.req.pod.host_network", S, "The pod's hostNetwork flag"),
        FieldInfo("ka.req.container.host_network", S, "Deprecated alias for ka.req.pod.host_network"),
        FieldInfo("ka.req.pod.host_pid", S, "The pod's hostPID flag"),
        FieldInfo("ka.req.container.privileged", S, "Deprecated: true if any container is privileged"),
        FieldInfo("ka.req.pod.run_as_user", S, "The pod-level runAsUser"),
        FieldInfo("ka.req.pod.run_as_group", S, "The pod-level runAsGroup"),
        FieldInfo("ka.req.pod.fs_group", S, "The pod-level fsGroup"),
        FieldInfo("ka.req.pod.supplemental_groups", L, "The pod-level supplementalGroups"),
        FieldInfo("ka.req.role.rules", L, "The rules of a role/cluster role"),
        FieldInfo("ka.req.role.rules.apiGroups", L, "The api groups of the role's rules", "optional-index"),
        FieldInfo(
            "ka.req.role.rules.nonResourceURLs",
            L,
            "The non resource urls of the role's rules",
            "optional-index",
        ),
        FieldInfo("ka.req.role.rules.verbs", L, "The verbs of the role's rules", "optional-index"),
        FieldInfo("ka.req.role.rules.resources", L, "The resources of the role's rules", "optional-index"),
        FieldInfo("ka.req.service.type", S, "If the request object is a service, its type"),
        FieldInfo(
            "ka.req.service.ports", L, "If the request object is a service, its ports", "optional-index"
        ),
        FieldInfo(
            "ka.req.pod.volumes.hostpath", L, "All hostPath paths of the pod's volumes", "optional-index"
        ),
        FieldInfo(
            "ka.req.volume.hostpath",
            S,
            "Deprecated: true if a volume uses the host path (trailing * = prefix)",
            "key",
        ),
        FieldInfo(
            "ka.req.pod.volumes.flexvolume_driver",
            L,
            "All flexVolume drivers of the pod's volumes",
            "optional-index",
        ),
        FieldInfo(
            "ka.req.pod.volumes.volume_type", L, "All volume types of the pod's volumes", "optional-index"
        ),
        FieldInfo("ka.resp.name", S, "The response object name"),
        FieldInfo("ka.response.code", S, "The response code"),
        FieldInfo("ka.response.reason", S, "The response reason (usually only for failures)"),
        FieldInfo("ka.useragent", S, "The user agent of the client"),
        FieldInfo("ka.sourceips", L, "The IP addresses of the client", "optional-index"),
        FieldInfo("ka.cluster.name", S, "The name of the cluster (set by the input, when known)"),
        FieldInfo("jevt.time", S, "Event time as HH:MM:SS.nnnnnnnnn (UTC)"),
        FieldInfo("jevt.time.iso8601", S, "Event time in ISO 8601 with nanoseconds"),
        FieldInfo("jevt.rawtime", S, "Event time in nanoseconds since the epoch"),
        FieldInfo("jevt.value", S, "The value at a JSON pointer (RFC 6901) in the event", "key"),
        FieldInfo("jevt.obj", S, "The whole event as JSON text"),
    ]
    per_container = [
        ("name", "names"),
        ("image", "images"),
        ("image.repository", "image repositories (no tag/digest)"),
        ("command", "commands"),
        ("args", "args"),
        ("privileged", "privileged flags"),
        ("allow_privilege_escalation", "allowPrivilegeEscalation flags"),
        ("read_only_fs", "readOnlyRootFilesystem flags"),
        ("run_as_user", "runAsUser uids"),
        ("eff_run_as_user", "effective uids (container, else pod, else 0)"),
        ("run_as_group", "runAsGroup gids"),
        ("eff_run_as_group", "effective gids (container, else pod, else 0)"),
        ("proc_mount", "procMount types"),
        ("add_capabilities", "added capabilities"),
        ("host_port", "hostPort values (containerPort when no hostPort)"),
    ]
    for plural in _CONTAINER_LISTS:
        for suffix, what in per_container:
            f.append(
                FieldInfo(
                    f"ka.req.pod.{plural}.{suffix}",
                    L,
                    f"When the request object is a pod, the {plural} {what}",
                    "optional-index",
                )
            )
    return f


_FIELDS: dict[str, FieldInfo] = {fi.name: fi for fi in _field_table()}


class K8sAuditFields(FieldClass):
    """The `k8s_audit` source's field table."""

    source: ClassVar[str] = "k8s_audit"
    index_fields: ClassVar[tuple[str, ...]] = ("ka.verb", "ka.target.resource")

    def fields(self) -> dict[str, FieldInfo]:
        return dict(_FIELDS)


class K8sAuditEvent(JsonEvent):
    """One Kubernetes audit `Event` (already parsed JSON).

    `cluster_name` comes from the input (the API server does not put it in the event), so it is
    passed in rather than guessed; `raw` may carry the original text for `jevt.obj`.
    """

    source: ClassVar[str] = "k8s_audit"
    # When the stage was reached, else when the request arrived.
    time_keys: ClassVar[tuple[str, ...]] = ("stageTimestamp", "requestReceivedTimestamp")
    __slots__ = ("_cluster", "_not_audit")

    def __init__(
        self, doc: dict[str, Any], *, cluster_name: str | None = None, raw: str | None = None
    ) -> None:
        super().__init__(doc, raw=raw)
        self._cluster = cluster_name
        # The plugin ignores JSON that is not an audit event (no auditID) for all ka.* fields.
        self._not_audit = "auditID" not in doc

    def value(self, name: str, arg: str | None = None) -> Any:
        fn = _EXTRACTORS.get(name)
        if fn is None:
            raise KeyError(name)
        if self._not_audit and name.startswith("ka."):
            return None
        return fn(self, arg)

    # --- helpers over the pod spec -------------------------------------------------------------

    def _spec(self) -> Any:
        return _get(self._doc, "requestObject", "spec")

    def _containers(self, plural: str, arg: str | None) -> list[Any] | None:
        items = _get(self._spec(), plural)
        if not isinstance(items, list):
            return None
        return _pick(items, arg)

    def _container_values(self, plural: str, arg: str | None, *keys: str) -> list[str] | None:
        """One string per container that sets the key (containers lacking it are skipped)."""
        items = self._containers(plural, arg)
        if items is None:
            return None
        out: list[str] = []
        for c in items:
            v = _get(c, *keys)
            if v is not _NA:
                out.append(to_text(v))
        return out

    def _container_flat(self, plural: str, arg: str | None, *keys: str) -> list[str] | None:
        """Arrays inside each container (command, args, capabilities.add) flattened in order."""
        items = self._containers(plural, arg)
        if items is None:
            return None
        out: list[str] = []
        for c in items:
            v = _get(c, *keys)
            if isinstance(v, list):
                out.extend(to_text(x) for x in v)
            elif v is not _NA:
                out.append(to_text(v))
        return out

    def _effective(self, plural: str, arg: str | None, key: str) -> list[str] | None:
        """Container securityContext value, else the pod's, else "0" (what the kubelet runs as)."""
        pod = _get(self._spec(), "securityContext", key)
        default = "0" if pod is _NA else to_text(pod)
        items = self._containers(plural, arg)
        if items is None:
            return None
        out: list[str] = []
        for c in items:
            v = _get(c, "securityContext", key)
            out.append(default if v is _NA or v is None else to_text(v))
        return out

    def _images(self, plural: str, arg: str | None) -> list[str] | None:
        items = self._containers(plural, arg)
        if items is None:
            return None
        out: list[str] = []
        for c in items:
            v = _get(c, "image")
            if v is _NA:
                return None  # the plugin treats a container without an image as not available
            out.append(to_text(v))
        return out

    def _host_ports(self, plural: str, arg: str | None) -> list[str] | None:
        items = self._containers(plural, arg)
        if items is None:
            return None
        out: list[str] = []
        for c in items:
            ports = _get(c, "ports")
            if not isinstance(ports, list):
                continue
            for p in ports:
                # With hostNetwork, containerPort is the port bound on the host.
                for key in ("hostPort", "containerPort"):
                    v = _get(p, key)
                    if v is not _NA:
                        out.append(to_text(v))
                        break
        return out

    def _subjects(self, kind: str, ns: bool = False) -> list[str] | None:
        subjects = _get(self._doc, "requestObject", "subjects")
        if not isinstance(subjects, list):
            return None
        out: list[str] = []
        for s in subjects:
            if not isinstance(s, dict) or s.get("kind") != kind or "name" not in s:
                continue
            name = to_text(s["name"])
            out.append(f"{to_text(s.get('namespace', ''))}:{name}" if ns else name)
        return out

    def _rules_field(self, key: str, arg: str | None) -> list[str] | None:
        rules = _get(self._doc, "requestObject", "rules")
        if not isinstance(rules, list):
            return None
        picked = _pick(rules, arg)
        if picked is None:
            return None
        out: list[str] = []
        for r in picked:
            v = _get(r, key)
            if isinstance(v, list):
                out.extend(to_text(x) for x in v if x is not None)
        return out

    def _volumes(self, arg: str | None) -> list[Any] | None:
        vols = _get(self._spec(), "volumes")
        if not isinstance(vols, list):
            return None
        return _pick(vols, arg)

    def _volume_values(self, arg: str | None, *keys: str) -> list[str] | None:
        vols = self._volumes(arg)
        if vols is None:
            return None
        return [to_text(v) for v in (_get(x, *keys) for x in vols) if v is not _NA]

    def _volume_types(self, arg: str | None) -> list[str] | None:
        vols = self._volumes(arg)
        if vols is None:
            return None
        return [k for v in vols if isinstance(v, dict) for k in v if k != "name"]

    def _volume_hostpath_match(self, arg: str | None) -> str | None:
        paths = self._volume_values(None, "hostPath", "path")
        if paths is None:
            return None
        pattern = arg or ""
        if pattern.endswith("*"):
            prefix = pattern[:-1]
            hit = any(p.startswith(prefix) for p in paths)
        else:
            hit = pattern in paths
        return "true" if hit else "false"

    def _any_privileged(self) -> str | None:
        items = self._containers("containers", None)
        if items is None:
            return None
        return "true" if any(_get(c, "securityContext", "privileged") is True for c in items) else "false"

    def _first(self, values: list[str] | None) -> str | None:
        return values[0] if values else None

    def _uri_param(self, arg: str | None) -> str | None:
        uri = _get(self._doc, "requestURI")
        if not isinstance(uri, str) or not arg:
            return None
        vals = parse_qs(urlsplit(uri).query, keep_blank_values=True).get(arg)
        return vals[0] if vals else None

    def _target_pod_name(self) -> str | None:
        if _get(self._doc, "objectRef", "resource") != "pods":
            return None
        return _str(self._doc, "objectRef", "name")

    def _source_ips(self, arg: str | None) -> list[str] | None:
        ips = _strlist(self._doc, "sourceIPs")
        return None if ips is None else _pick(ips, arg)

    def _service_ports(self, arg: str | None) -> list[str] | None:
        ports = _get(self._spec(), "ports")
        if not isinstance(ports, list):
            return None
        picked = _pick(ports, arg)
        return None if picked is None else [to_text(p) for p in picked]

    def _jevt_value(self, arg: str | None) -> str | None:
        return None if arg is None else pointer_text(self._doc, arg)

    def _jevt_obj(self) -> str:
        # The json plugin prints the event through Go's json.Indent(data, "", "  ").
        return _go_indent(self._raw if self._raw is not None else to_text(self._doc))

    def _time_field(self, render: Callable[[int], str]) -> str | None:
        """Rendered event time; None only when the event carries no usable timestamp.

        A timestamp at the Unix epoch is a real time of 0 (Falco's `jevt.rawtime` is then "0",
        which is what the rules' `k8s_audit_never_true` macro, `jevt.rawtime=0`, tests for).
        """
        ns = self.time_ns()
        if ns == 0 and not self._has_time():
            return None
        return render(ns)

    def _has_time(self) -> bool:
        return any(
            isinstance(text := self._doc.get(key), str) and parse_rfc3339_ns(text) is not None
            for key in self.time_keys
        )


_Extractor = Callable[[K8sAuditEvent, "str | None"], Any]


def _keys(*keys: str) -> _Extractor:
    """A scalar at a fixed key path; one and two keys (most fields) without the general walk."""
    if len(keys) == 1:
        (k1,) = keys

        def one(e: K8sAuditEvent, _a: str | None) -> str | None:
            v = e._doc.get(k1, _NA)
            return None if v is _NA else v if type(v) is str else to_text(v)

        return one
    if len(keys) == 2:
        k1, k2 = keys

        def two(e: K8sAuditEvent, _a: str | None) -> str | None:
            outer = e._doc.get(k1)
            if type(outer) is not dict:
                return None
            v = outer.get(k2, _NA)
            return None if v is _NA else v if type(v) is str else to_text(v)

        return two
    return lambda e, _a: _str(e._doc, *keys)


def _container_extractors(plural: str) -> dict[str, _Extractor]:
    """The per-container field family for one pod-spec list (containers, init, ephemeral)."""
    p = f"ka.req.pod.{plural}."

    def values(*keys: str) -> _Extractor:
        return lambda e, a: e._container_values(plural, a, *keys)

    def flat(*keys: str) -> _Extractor:
        return lambda e, a: e._container_flat(plural, a, *keys)

    def effective(key: str) -> _Extractor:
        return lambda e, a: e._effective(plural, a, key)

    def repos(e: K8sAuditEvent, a: str | None) -> list[str] | None:
        imgs = e._images(plural, a)
        return None if imgs is None else [_repository(i) for i in imgs]

    return {
        p + "name": values("name"),
        p + "image": lambda e, a: e._images(plural, a),
        p + "image.repository": repos,
        p + "command": flat("command"),
        p + "args": flat("args"),
        p + "privileged": values("securityContext", "privileged"),
        p + "allow_privilege_escalation": values("securityContext", "allowPrivilegeEscalation"),
        p + "read_only_fs": values("securityContext", "readOnlyRootFilesystem"),
        p + "run_as_user": values("securityContext", "runAsUser"),
        p + "run_as_group": values("securityContext", "runAsGroup"),
        p + "proc_mount": values("securityContext", "procMount"),
        p + "eff_run_as_user": effective("runAsUser"),
        p + "eff_run_as_group": effective("runAsGroup"),
        p + "add_capabilities": flat("securityContext", "capabilities", "add"),
        p + "host_port": lambda e, a: e._host_ports(plural, a),
    }


def _build_extractors() -> dict[str, _Extractor]:
    """Map each field name to how it is read (built once; `value()` is one dict lookup + call)."""
    ann = "annotations"
    x: dict[str, _Extractor] = {
        "ka.auditid": _keys("auditID"),
        "ka.stage": _keys("stage"),
        "ka.auth.decision": _keys(ann, "authorization.k8s.io/decision"),
        "ka.auth.reason": _keys(ann, "authorization.k8s.io/reason"),
        "ka.auth.openshift.decision": _keys(ann, "authorization.openshift.io/decision"),
        "ka.auth.openshift.username": _keys(ann, "authentication.openshift.io/username"),
        "ka.validations.admission.policy.failure": _keys(
            ann, "validation.policy.admission.k8s.io/validation_failure"
        ),
        "ka.security.pod.violations": _keys(ann, "pod-security.kubernetes.io/audit-violations"),
        "ka.user.name": _keys("user", "username"),
        "ka.user.groups": lambda e, _a: _strlist(e.doc, "user", "groups"),
        "ka.impuser.name": _keys("impersonatedUser", "username"),
        "ka.verb": _keys("verb"),
        "ka.uri": _keys("requestURI"),
        "ka.uri.param": lambda e, a: e._uri_param(a),
        "ka.target.name": _keys("objectRef", "name"),
        "ka.target.namespace": _keys("objectRef", "namespace"),
        "ka.target.resource": _keys("objectRef", "resource"),
        "ka.target.subresource": _keys("objectRef", "subresource"),
        "ka.target.pod.name": lambda e, _a: e._target_pod_name(),
        "ka.req.binding.subjects": lambda e, _a: _strlist(e.doc, "requestObject", "subjects"),
        "ka.req.binding.subjects.user_names": lambda e, _a: e._subjects("User"),
        "ka.req.binding.subjects.serviceaccount_names": lambda e, _a: e._subjects("ServiceAccount"),
        "ka.req.binding.subjects.serviceaccount_ns_names": lambda e, _a: e._subjects(
            "ServiceAccount", ns=True
        ),
        "ka.req.binding.subjects.group_names": lambda e, _a: e._subjects("Group"),
        "ka.req.binding.role": _keys("requestObject", "roleRef", "name"),
        "ka.req.binding.subject.has_name": lambda _e, _a: "true",
        "ka.req.configmap.name": _keys("objectRef", "name"),
        "ka.req.configmap.obj": _keys("requestObject", "data"),
        "ka.req.container.image": lambda e, _a: e._first(e._images("containers", "0")),
        "ka.req.container.image.repository": lambda e, _a: e._first(
            [_repository(i) for i in e._images("containers", "0") or []]
        ),
        "ka.req.pod.host_ipc": _keys("requestObject", "spec", "hostIPC"),
        "ka.req.pod.host_network": _keys("requestObject", "spec", "hostNetwork"),
        "ka.req.container.host_network": _keys("requestObject", "spec", "hostNetwork"),
        "ka.req.pod.host_pid": _keys("requestObject", "spec", "hostPID"),
        "ka.req.container.privileged": lambda e, _a: e._any_privileged(),
        "ka.req.pod.run_as_user": _keys("requestObject", "spec", "securityContext", "runAsUser"),
        "ka.req.pod.run_as_group": _keys("requestObject", "spec", "securityContext", "runAsGroup"),
        "ka.req.pod.fs_group": _keys("requestObject", "spec", "securityContext", "fsGroup"),
        "ka.req.pod.supplemental_groups": lambda e, _a: _strlist(
            e.doc, "requestObject", "spec", "securityContext", "supplementalGroups"
        ),
        "ka.req.role.rules": lambda e, _a: _strlist(e.doc, "requestObject", "rules"),
        "ka.req.role.rules.apiGroups": lambda e, a: e._rules_field("apiGroups", a),
        "ka.req.role.rules.nonResourceURLs": lambda e, a: e._rules_field("nonResourceURLs", a),
        "ka.req.role.rules.verbs": lambda e, a: e._rules_field("verbs", a),
        "ka.req.role.rules.resources": lambda e, a: e._rules_field("resources", a),
        "ka.req.service.type": _keys("requestObject", "spec", "type"),
        "ka.req.service.ports": lambda e, a: e._service_ports(a),
        "ka.req.pod.volumes.hostpath": lambda e, a: e._volume_values(a, "hostPath", "path"),
        "ka.req.volume.hostpath": lambda e, a: e._volume_hostpath_match(a),
        "ka.req.pod.volumes.flexvolume_driver": lambda e, a: e._volume_values(a, "flexVolume", "driver"),
        "ka.req.pod.volumes.volume_type": lambda e, a: e._volume_types(a),
        "ka.resp.name": _keys("responseObject", "metadata", "name"),
        "ka.response.code": _keys("responseStatus", "code"),
        "ka.response.reason": _keys("responseStatus", "reason"),
        "ka.useragent": _keys("userAgent"),
        "ka.sourceips": lambda e, a: e._source_ips(a),
        "ka.cluster.name": lambda e, _a: e._cluster,
        "jevt.time": lambda e, _a: e._time_field(ns_to_clock),
        "jevt.time.iso8601": lambda e, _a: e._time_field(ns_to_iso8601),
        "jevt.rawtime": lambda e, _a: e._time_field(str),
        "jevt.value": lambda e, a: e._jevt_value(a),
        "jevt.obj": lambda e, _a: e._jevt_obj(),
    }
    for plural in _CONTAINER_LISTS:
        x.update(_container_extractors(plural))
    return x


_EXTRACTORS: dict[str, _Extractor] = _build_extractors()
assert set(_EXTRACTORS) == set(_FIELDS), set(_EXTRACTORS) ^ set(_FIELDS)
