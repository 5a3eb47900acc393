"""`aws_cloudtrail` fields: Falco's cloudtrail plugin (`ct.*`, `s3.*`, `ec2.*`, `ecr.*`) plus the
json plugin's `json.*` over the same record.

Falco's CloudTrail rules compare these exact strings (`ct.user.identitytype = Root`,
`ct.readonly = false`), so each field is read the way the plugin reads it, including its choice
of who "the user" is for each identity type. One event is one `Records[]` entry, parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from yamori.detect.fields.interface import FieldClass, FieldInfo, FieldType
from yamori.detect.fields.jsonevent import JsonEvent
from yamori.detect.fields.jsonptr import pointer_text, to_text

S = FieldType.STRING
U = FieldType.UINT

# Event-name prefixes the plugin treats as writes when a record lacks `readOnly`.
_WRITE_PREFIXES = (
    "Start", "Stop", "Create", "Destroy", "Delete", "Add", "Remove", "Terminate", "Put",
    "Associate", "Disassociate", "Attach", "Detach", "Open", "Close", "Wipe", "Update",
    "Upgrade", "Unlink", "Assign", "Unassign", "Suspend", "Set", "Run", "Register",
    "Deregister", "Reboot", "Purchase", "Modify", "Initialize", "Enable", "Disable", "Cancel",
    "Admin", "Activate",
)  # fmt: skip

_AMAZONAWS = ".amazonaws.com"

# ct.request.* field suffix -> requestParameters key.
_REQUEST_KEYS = {
    "availabilityzone": "availabilityZone",
    "cluster": "cluster",
    "functionname": "functionName",
    "groupname": "groupName",
    "host": "Host",
    "name": "name",
    "policy": "policy",
    "serialnumber": "serialNumber",
    "servicename": "serviceName",
    "subnetid": "subnetId",
    "taskdefinition": "taskDefinition",
    "username": "userName",
}

_FIELD_LIST: list[FieldInfo] = [
    FieldInfo("ct.id", S, "The unique ID of the event (eventID)"),
    FieldInfo("ct.error", S, "The error code of the event; absent when there was no error"),
    FieldInfo("ct.time", S, "The timestamp of the event (eventTime)"),
    FieldInfo("ct.src", S, "The source of the event (eventSource)"),
    FieldInfo("ct.shortsrc", S, "eventSource without the '.amazonaws.com' trailer"),
    FieldInfo("ct.name", S, "The name of the event (eventName)"),
    FieldInfo("ct.user", S, "The user of the event, chosen by identity type"),
    FieldInfo("ct.user.accountid", S, "The account id of the user (userIdentity.accountId)"),
    FieldInfo("ct.user.identitytype", S, "The kind of user identity (Root, IAMUser, AWSService...)"),
    FieldInfo("ct.user.principalid", S, "A unique identifier for the user that made the request"),
    FieldInfo("ct.user.arn", S, "The ARN of the user that made the request"),
    FieldInfo("ct.region", S, "The region of the event (awsRegion)"),
    FieldInfo("ct.response.subnetid", S, "The subnet ID included in the response"),
    FieldInfo("ct.response.reservationid", S, "The reservation ID included in the response"),
    *(
        FieldInfo(f"ct.request.{suffix}", S, f"requestParameters.{key}")
        for suffix, key in _REQUEST_KEYS.items()
    ),
    FieldInfo("ct.srcip", S, "The IP address generating the event (sourceIPAddress)"),
    FieldInfo("ct.useragent", S, "The user agent generating the event (userAgent)"),
    FieldInfo("ct.info", S, "Summary of the event: who, from where, what"),
    FieldInfo("ct.managementevent", S, "'true' for management events, 'false' otherwise"),
    FieldInfo("ct.readonly", S, "'true' if the event only reads, 'false' if it modifies state"),
    # Record keys beyond the plugin's table, named in the same style (yamori extensions).
    FieldInfo("ct.requestid", S, "The request ID (requestID)"),
    FieldInfo("ct.eventtype", S, "The event type (eventType, e.g. AwsApiCall)"),
    FieldInfo("ct.apiversion", S, "The API version (apiVersion)"),
    FieldInfo("ct.recipientaccountid", S, "The account that received the event"),
    FieldInfo("ct.vpcendpointid", S, "The VPC endpoint the request came through"),
    FieldInfo("ct.request", S, "requestParameters as JSON text"),
    FieldInfo("ct.response", S, "responseElements as JSON text"),
    FieldInfo("ct.additionaleventdata", S, "additionalEventData as JSON text"),
    FieldInfo("ct.resources", S, "resources as JSON text"),
    FieldInfo("s3.uri", S, "The S3 URI (s3://<bucket>/<key>)"),
    FieldInfo("s3.bucket", S, "The bucket name for S3 events"),
    FieldInfo("s3.key", S, "The S3 key name"),
    FieldInfo("s3.bytes", U, "The size of an S3 download or upload, in bytes"),
    FieldInfo("s3.bytes.in", U, "The size of an S3 upload, in bytes"),
    FieldInfo("s3.bytes.out", U, "The size of an S3 download, in bytes"),
    FieldInfo("s3.cnt.get", U, "1 for GetObject events"),
    FieldInfo("s3.cnt.put", U, "1 for PutObject events"),
    FieldInfo("s3.cnt.other", U, "1 for events other than GetObject and PutObject"),
    FieldInfo("ec2.name", S, "The Name tag of the EC2 instances in the request"),
    FieldInfo("ec2.imageid", S, "The image ID of the EC2 instance in the response"),
    FieldInfo("ecr.repository", S, "The ECR repository named in the request"),
    FieldInfo("ecr.imagetag", S, "The image tag named in the request"),
    FieldInfo("json.value", S, "The value at a JSON pointer (RFC 6901) in the record", "key"),
    FieldInfo("json.obj", S, "The whole record as JSON text"),
    FieldInfo("json.rawtime", S, "The event time in nanoseconds since the epoch"),
]
_FIELDS: dict[str, FieldInfo] = {fi.name: fi for fi in _FIELD_LIST}


def _sget(obj: Any, *keys: str) -> str | None:
    """A string at a key path; None when absent or not a string (the plugin reads strings only)."""
    cur = obj
    for k in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
    return cur if isinstance(cur, str) else None


def _as_u64(v: Any) -> int:
    """Byte counts arrive as ints or floats (`33.0`); anything else counts as 0."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return max(v, 0)
    if isinstance(v, float):
        return max(int(v), 0)
    return 0


class CloudTrailFields(FieldClass):
    """The `aws_cloudtrail` source's field table."""

    source: ClassVar[str] = "aws_cloudtrail"
    index_fields: ClassVar[tuple[str, ...]] = ("ct.name", "ct.src")

    def fields(self) -> dict[str, FieldInfo]:
        return dict(_FIELDS)


class CloudTrailEvent(JsonEvent):
    """One CloudTrail record (a `Records[]` entry), parsed; `raw` may keep the text for `json.obj`."""

    source: ClassVar[str] = "aws_cloudtrail"
    time_keys: ClassVar[tuple[str, ...]] = ("eventTime",)
    __slots__ = ()

    def value(self, name: str, arg: str | None = None) -> Any:
        fn = _EXTRACTORS.get(name)
        if fn is None:
            raise KeyError(name)
        return fn(self, arg)

    def user(self) -> str | None:
        """Who acted, by identity type: the plugin's rule, which rules and outputs depend on.

        Root/IAMUser -> userName; AWSService -> invokedBy; AssumedRole -> the issuing role's
        userName (else the literal "AssumedRole"); AWSAccount/FederatedUser -> the type itself;
        any other type -> "<unknown user type>" is not reported as a value (absent).
        """
        utype = _sget(self._doc, "userIdentity", "type")
        if utype is None:
            return None
        if utype in ("Root", "IAMUser"):
            return _sget(self._doc, "userIdentity", "userName")
        if utype == "AWSService":
            return _sget(self._doc, "userIdentity", "invokedBy")
        if utype == "AssumedRole":
            issuer = _sget(self._doc, "userIdentity", "sessionContext", "sessionIssuer", "userName")
            return issuer if issuer is not None else "AssumedRole"
        if utype in ("AWSAccount", "FederatedUser"):
            return utype
        return None

    def readonly(self) -> str | None:
        ro = self._doc.get("readOnly")
        if ro is True:
            return "true"
        if "readOnly" in self._doc:
            return "false"
        # Some records lack readOnly: guess from the verb at the start of the event name.
        name = _sget(self._doc, "eventName")
        if name is None:
            return None
        return "false" if name.startswith(_WRITE_PREFIXES) else "true"

    def shortsrc(self) -> str | None:
        src = _sget(self._doc, "eventSource")
        if src is not None and len(src) > len(_AMAZONAWS) and src.endswith(_AMAZONAWS):
            return src[: -len(_AMAZONAWS)]
        return src

    def s3_bytes(self, which: tuple[str, ...]) -> int | None:
        data = self._doc.get("additionalEventData")
        if not isinstance(data, dict):
            return None
        present = [data[k] for k in which if k in data]
        if not present:
            return None
        return sum(_as_u64(v) for v in present)

    def s3_uri(self) -> str | None:
        bucket = _sget(self._doc, "requestParameters", "bucketName")
        key = _sget(self._doc, "requestParameters", "key")
        if bucket is None or key is None:
            return None
        return f"s3://{bucket}/{key}"

    def ec2_name(self) -> str | None:
        items = self._doc.get("requestParameters", {})
        items = items.get("tagSpecificationSet", {}) if isinstance(items, dict) else {}
        items = items.get("items") if isinstance(items, dict) else None
        if not isinstance(items, list):
            return None
        name = ""
        for item in items:
            if not isinstance(item, dict) or item.get("resourceType") != "instance":
                continue
            for tag in item.get("tags") or []:
                if isinstance(tag, dict) and tag.get("key") == "Name":
                    name = str(tag.get("value") or "")
                    break
        return name or None

    def ec2_imageid(self) -> str | None:
        resp = self._doc.get("responseElements")
        tss = resp.get("tagSpecificationSet") if isinstance(resp, dict) else None
        items = tss.get("items") if isinstance(tss, dict) else None
        if not isinstance(items, list) or not items:
            return None
        return _sget(items[0], "imageId") or None

    def info(self) -> str:
        """The plugin's one-line summary: "user via ip [!][←|→] EventName" plus S3/host details."""
        user = self.user()
        if user is None:
            return "<invalid cloudtrail event: userIdentity field missing>"
        srcip = _sget(self._doc, "sourceIPAddress")
        if srcip is None:
            return "<invalid cloudtrail event: eventSource field missing>"
        err = "!" if _sget(self._doc, "errorCode") is not None else ""
        rw = "→" if self.readonly() == "false" else "←"
        name = _sget(self._doc, "eventName")
        if name is None:
            return "<invalid cloudtrail event: eventName field missing>"
        who = user if user == srcip else f"{user} via {srcip}"
        info = f"{who} {err}{rw} {name}"
        if name == "PutBucketPublicAccessBlock":
            cfg = self._doc.get("requestParameters")
            if isinstance(cfg, dict) and isinstance(cfg.get("PublicAccessBlockConfiguration"), dict):
                # The plugin reads these four flags from the record's top level, where they never
                # are, so it always prints false; kept identical so outputs match Falco's.
                info += (
                    " BlockPublicAcls=false BlockPublicPolicy=false"
                    " IgnorePublicAcls=false RestrictPublicBuckets=false "
                )
            return info
        size = self.s3_bytes(("bytesTransferredIn", "bytesTransferredOut"))
        if size is not None:
            info += f" Size={size}"
        for label, val in (
            ("URI", self.s3_uri()),
            ("Bucket", _sget(self._doc, "requestParameters", "bucketName")),
            ("Key", _sget(self._doc, "requestParameters", "key")),
            ("Host", _sget(self._doc, "requestParameters", "Host")),
        ):
            if val is not None:
                return info + f" {label}={val}"
        return info

    def json_part(self, key: str) -> str | None:
        return to_text(self._doc[key]) if key in self._doc else None

    def json_value(self, arg: str | None) -> str | None:
        return None if arg is None else pointer_text(self._doc, arg)

    def json_obj(self) -> str:
        return self._raw if self._raw is not None else to_text(self._doc)


_Extractor = Callable[[CloudTrailEvent, "str | None"], Any]


def _top(key: str) -> _Extractor:
    return lambda e, _a: _sget(e.doc, key)


def _path(*keys: str) -> _Extractor:
    return lambda e, _a: _sget(e.doc, *keys)


def _event_is(*names: str, negate: bool = False) -> _Extractor:
    def fn(e: CloudTrailEvent, _a: str | None) -> int | None:
        hit = _sget(e.doc, "eventName") in names
        return 1 if hit != negate else None

    return fn


def _build() -> dict[str, _Extractor]:
    x: dict[str, _Extractor] = {
        "ct.id": _top("eventID"),
        "ct.error": _top("errorCode"),
        "ct.time": _top("eventTime"),
        "ct.src": _top("eventSource"),
        "ct.shortsrc": lambda e, _a: e.shortsrc(),
        "ct.name": _top("eventName"),
        "ct.user": lambda e, _a: e.user(),
        "ct.user.accountid": _path("userIdentity", "accountId"),
        "ct.user.identitytype": _path("userIdentity", "type"),
        "ct.user.principalid": _path("userIdentity", "principalId"),
        "ct.user.arn": _path("userIdentity", "arn"),
        "ct.region": _top("awsRegion"),
        "ct.response.subnetid": _path("responseElements", "subnetId"),
        "ct.response.reservationid": _path("responseElements", "reservationId"),
        "ct.srcip": _top("sourceIPAddress"),
        "ct.useragent": _top("userAgent"),
        "ct.info": lambda e, _a: e.info(),
        "ct.managementevent": lambda e, _a: "true" if e.doc.get("managementEvent") is True else "false",
        "ct.readonly": lambda e, _a: e.readonly(),
        "ct.requestid": _top("requestID"),
        "ct.eventtype": _top("eventType"),
        "ct.apiversion": _top("apiVersion"),
        "ct.recipientaccountid": _top("recipientAccountId"),
        "ct.vpcendpointid": _top("vpcEndpointId"),
        "ct.request": lambda e, _a: e.json_part("requestParameters"),
        "ct.response": lambda e, _a: e.json_part("responseElements"),
        "ct.additionaleventdata": lambda e, _a: e.json_part("additionalEventData"),
        "ct.resources": lambda e, _a: e.json_part("resources"),
        "s3.uri": lambda e, _a: e.s3_uri(),
        "s3.bucket": _path("requestParameters", "bucketName"),
        "s3.key": _path("requestParameters", "key"),
        "s3.bytes": lambda e, _a: e.s3_bytes(("bytesTransferredIn", "bytesTransferredOut")),
        "s3.bytes.in": lambda e, _a: e.s3_bytes(("bytesTransferredIn",)),
        "s3.bytes.out": lambda e, _a: e.s3_bytes(("bytesTransferredOut",)),
        "s3.cnt.get": _event_is("GetObject"),
        "s3.cnt.put": _event_is("PutObject"),
        "s3.cnt.other": _event_is("GetObject", "PutObject", negate=True),
        "ec2.name": lambda e, _a: e.ec2_name(),
        "ec2.imageid": lambda e, _a: e.ec2_imageid(),
        "ecr.repository": _path("requestParameters", "repositoryName"),
        "ecr.imagetag": _path("requestParameters", "imageTag"),
        "json.value": lambda e, a: e.json_value(a),
        "json.obj": lambda e, _a: e.json_obj(),
        "json.rawtime": lambda e, _a: str(e.time_ns()) if e.time_ns() else None,
    }
    for suffix, key in _REQUEST_KEYS.items():
        x[f"ct.request.{suffix}"] = _path("requestParameters", key)
    return x


_EXTRACTORS: dict[str, _Extractor] = _build()
assert set(_EXTRACTORS) == set(_FIELDS), set(_EXTRACTORS) ^ set(_FIELDS)
