"""Hooks for CIS AWS Foundations sections 3-5: joins and parsing the condition language cannot do.

``cloudtrail_metric_filter_alarm`` (CIS 4.1-4.15), on ``aws.cloudtrail.trail`` with
``scope: account``: the trail must be multi-region, logging, recording management events (read
and write), and deliver to a CloudWatch Logs group in which, for **every** sample event of the
control (``hook_args.events``), some metric filter

1. has a JSON filter pattern that matches the event (we parse and evaluate the pattern; see
   :func:`parse_filter_pattern`) and matches none of the routine CloudTrail events in
   :data:`ROUTINE_EVENTS` (S3 log delivery probing a bucket, a successful read-only call): a
   filter that fires on ordinary traffic — ``""``, ``{ $.eventName = * }``, or the CIS v3.0.0
   text of 4.1, whose ``||``-joined ``!=`` exclusions match almost every event — makes an alarm
   nobody can act on, and would otherwise satisfy every other control at once,
2. feeds a metric (``metricTransformations`` name + namespace) that a CloudWatch alarm with
   actions enabled watches (``MetricName``/``Namespace``, or a ``MetricStat`` in ``Metrics``),
3. whose ``AlarmActions`` include an SNS topic with at least one confirmed subscription
   (``SubscriptionArn`` is an ARN, not ``PendingConfirmation``).

Events may be covered by different filters. ``events`` is a list of mappings; dotted keys set
nested fields (``userIdentity.type: Root``) and a list value expands to one event per element
(``eventName: [CreateTrail, DeleteTrail]``). Each event is laid over :data:`BASE_EVENT`, a
plain successful API call, so patterns that also test ``eventType`` or ``sourceIPAddress`` see
realistic values. A failed listing of filters, alarms or topics in the log group's region, or a
topic whose subscriptions could not be read, makes an otherwise failing result ERROR.

``cloudtrail_bucket_access_logging`` (CIS 3.4): the trail's ``S3BucketName`` names a collected
``aws.s3.bucket`` whose ``Logging.LoggingEnabled`` is set. A bucket not in the scan (another
account) is UNKNOWN; a failed bucket listing is ERROR.

``config_recorder_records_all`` (CIS 3.3), on ``aws.config.settings``: a recorder with
``recordingGroup.allSupported`` and ``includeGlobalResourceTypes`` whose status (joined by name)
is ``recording`` and whose ``lastStatus`` is not a failure.

``network_acl_public_ingress`` (CIS 5.1, ``port``): evaluates the ACL's inbound entries in rule
order, as AWS does, for TCP traffic to ``port`` from anywhere (``0.0.0.0/0`` and ``::/0``
separately). The first entry whose source is the whole address space and whose protocol (``6``
or ``-1``) and port range (absent = all ports) cover the traffic decides: ``allow`` FAILs,
``deny`` closes that family. Narrower entries are skipped: a narrower allow is not "from
0.0.0.0/0", and a narrower deny does not block the whole internet.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy.conditions import compile_regex
from yamori.policy.hooks.registry import register_hook
from yamori.policy.interface import ABSENT, CheckResult
from yamori.policy.inventory import Inventory
from yamori.policy.paths import read_attribute

__all__ = [
    "BASE_EVENT",
    "ROUTINE_EVENTS",
    "FilterPatternError",
    "cloudtrail_bucket_access_logging",
    "cloudtrail_metric_filter_alarm",
    "config_recorder_records_all",
    "expand_events",
    "filter_pattern_matches",
    "network_acl_public_ingress",
    "parse_filter_pattern",
    "trail_records_management_events",
]

METRIC_FILTER: Final = "aws.logs.metric_filter"
ALARM: Final = "aws.cloudwatch.alarm"
TOPIC: Final = "aws.sns.topic"
BUCKET: Final = "aws.s3.bucket"

# A successful IAM-user API call: the fields CIS filter patterns test besides the event's own.
BASE_EVENT: Final[Mapping[str, Any]] = {
    "eventVersion": "1.09",
    "eventTime": "2024-06-01T12:00:00Z",
    "eventType": "AwsApiCall",
    "eventCategory": "Management",
    "managementEvent": True,
    "readOnly": False,
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2.15.0",
    "recipientAccountId": "111122223333",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "arn": "arn:aws:iam::111122223333:user/alice",
        "accountId": "111122223333",
        "userName": "alice",
    },
}

# Routine traffic no CIS filter should alert on: S3 log delivery probing a bucket, and an IAM
# user's successful read-only call.
_LOG_DELIVERY: Final[Mapping[str, Any]] = {
    **BASE_EVENT,
    "eventSource": "s3.amazonaws.com",
    "eventName": "HeadBucket",
    "readOnly": True,
    "sourceIPAddress": "delivery.logs.amazonaws.com",
    "userAgent": "delivery.logs.amazonaws.com",
    "userIdentity": {"type": "AWSService", "invokedBy": "delivery.logs.amazonaws.com"},
}
ROUTINE_EVENTS: Final[tuple[Mapping[str, Any], ...]] = (
    _LOG_DELIVERY,
    {**BASE_EVENT, "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "readOnly": True},
)


# --- CloudWatch Logs JSON filter patterns -------------------------------------------------------


class FilterPatternError(ValueError):
    """The pattern is not a JSON filter pattern we can read."""


@dataclass(frozen=True, slots=True)
class _Compare:
    selector: tuple[str | int, ...]  # "*" = any key/element
    op: str  # = != < <= > >= exists not_exists is_true is_false is_null
    value: Any = None  # str (glob), float, re.Pattern


@dataclass(frozen=True, slots=True)
class _BoolOp:
    op: str  # "&&" or "||"
    items: tuple[_Node, ...]


_Node = _Compare | _BoolOp

_TOKEN: Final = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<logic>&&|\|\|)
  | (?P<paren>[()])
  | (?P<selector>\$(?:\.(?:\*|[A-Za-z0-9_@\-]+)|\[(?:\d+|\*)\])*)
  | (?P<op>!=|>=|<=|=|>|<)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<regex>%(?:[^%\\]|\\.)*%)
  | (?P<bare>[^\s()&|"%=!<>]+)
    """,
    re.VERBOSE,
)


def _tokenize(body: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if m is None:
            raise FilterPatternError(f"unexpected character {body[pos]!r} at {pos}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens


def _selector(text: str) -> tuple[str | int, ...]:
    steps: list[str | int] = []
    for m in re.finditer(r"\.(\*|[A-Za-z0-9_@\-]+)|\[(\d+|\*)\]", text[1:]):
        key, index = m.group(1), m.group(2)
        if key is not None:
            steps.append(key)
        else:
            steps.append("*" if index == "*" else int(index))
    return tuple(steps)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterPatternError("pattern ends too early")
        self.pos += 1
        return token

    def word(self) -> str:
        kind, text = self.take()
        if kind != "bare":
            raise FilterPatternError(f"expected a keyword, got {text!r}")
        return text.upper()

    def expr(self) -> _Node:
        """``a || b || ...`` of conjunctions (``&&`` binds tighter)."""
        items = [self.conjunction()]
        while self.peek() == ("logic", "||"):
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else _BoolOp("||", tuple(items))

    def conjunction(self) -> _Node:
        items = [self.unary()]
        while self.peek() == ("logic", "&&"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else _BoolOp("&&", tuple(items))

    def unary(self) -> _Node:
        kind, text = self.take()
        if (kind, text) == ("paren", "("):
            node = self.expr()
            if self.take() != ("paren", ")"):
                raise FilterPatternError("unbalanced parentheses")
            return node
        if kind != "selector":
            raise FilterPatternError(f"expected a $.field selector, got {text!r}")
        selector = _selector(text)
        kind, text = self.take()
        if kind == "op":
            return _Compare(selector, text, self.value(text))
        if kind != "bare":
            raise FilterPatternError(f"expected an operator after {text!r}")
        keyword = text.upper()
        if keyword == "EXISTS":
            return _Compare(selector, "exists")
        if keyword == "NOT" and self.word() == "EXISTS":
            return _Compare(selector, "not_exists")
        if keyword == "IS":
            what = self.word()
            if what == "NOT" and self.word() == "NULL":
                return _Compare(selector, "not_null")
            if what in ("TRUE", "FALSE", "NULL"):
                return _Compare(selector, f"is_{what.lower()}")
        raise FilterPatternError(f"unsupported comparison {keyword!r}")

    def value(self, op: str) -> Any:
        kind, text = self.take()
        if kind == "quoted":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "regex":
            if op not in ("=", "!="):
                raise FilterPatternError("a %regex% needs = or !=")
            try:
                return compile_regex(text[1:-1])
            except ValueError as exc:
                raise FilterPatternError(str(exc)) from None
        if kind != "bare":
            raise FilterPatternError(f"expected a value, got {text!r}")
        if op in ("<", "<=", ">", ">="):
            try:
                return float(text)
            except ValueError:
                raise FilterPatternError(f"{op} needs a number, got {text!r}") from None
        return text


@lru_cache(maxsize=1024)
def parse_filter_pattern(pattern: str) -> _Node | None:
    """The parsed JSON filter pattern; ``None`` for the empty pattern (it matches every event).

    Raises :class:`FilterPatternError` for anything else we cannot read (space-delimited or term
    patterns, unbalanced parentheses, unknown operators): such a filter cannot be shown to match
    CloudTrail records, so it covers nothing.
    """
    text = pattern.strip()
    if not text:
        return None
    if not (text.startswith("{") and text.endswith("}")):
        raise FilterPatternError("not a JSON filter pattern ({ ... })")
    parser = _Parser(_tokenize(text[1:-1]))
    node = parser.expr()
    if parser.peek() is not None:
        raise FilterPatternError(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return node


def _resolve(event: Any, selector: tuple[str | int, ...]) -> list[Any]:
    values = [event]
    for step in selector:
        found: list[Any] = []
        for value in values:
            if step == "*":
                if isinstance(value, dict):
                    found.extend(value.values())
                elif isinstance(value, list):
                    found.extend(value)
            elif isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    found.append(value[step])
            elif isinstance(value, dict) and step in value:
                found.append(value[step])
        values = found
    return values


def _equals(actual: Any, expected: Any) -> bool:
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.search(actual) is not None
    if isinstance(actual, bool) or actual is None or isinstance(actual, (dict, list)):
        return False
    text = str(actual)
    if "*" in expected:
        glob = ".*".join(re.escape(part) for part in expected.split("*"))
        return re.fullmatch(glob, text, re.DOTALL) is not None
    if isinstance(actual, (int, float)):
        try:
            return bool(float(expected) == float(actual))
        except ValueError:
            return False
    return bool(text == expected)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _compare(node: _Compare, event: Mapping[str, Any]) -> bool:
    values = _resolve(event, node.selector)
    op = node.op
    if op == "exists":
        return bool(values)
    if op == "not_exists":
        return not values
    if op == "is_true":
        return any(v is True for v in values)
    if op == "is_false":
        return any(v is False for v in values)
    if op == "is_null":
        return any(v is None for v in values)
    if op == "not_null":
        return any(v is not None for v in values)
    if op == "=":
        return any(_equals(v, node.value) for v in values)
    if op == "!=":
        return bool(values) and not any(_equals(v, node.value) for v in values)
    numbers = [n for n in (_number(v) for v in values) if n is not None]
    limit = node.value
    return any(
        (op == "<" and n < limit)
        or (op == "<=" and n <= limit)
        or (op == ">" and n > limit)
        or (op == ">=" and n >= limit)
        for n in numbers
    )


def _matches(node: _Node, event: Mapping[str, Any]) -> bool:
    if isinstance(node, _Compare):
        return _compare(node, event)
    if node.op == "&&":
        return all(_matches(item, event) for item in node.items)
    return any(_matches(item, event) for item in node.items)


def filter_pattern_matches(pattern: str, event: Mapping[str, Any]) -> bool:
    """Whether the CloudWatch Logs JSON filter ``pattern`` matches the (JSON) ``event``."""
    node = parse_filter_pattern(pattern)
    return True if node is None else _matches(node, event)


# --- sample events ------------------------------------------------------------------------------


def _set_path(event: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    target = event
    for key in parents:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        else:
            child = target[key] = dict(child)
        target = child
    target[last] = value


def expand_events(specs: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(label, event)`` for each sample: dotted keys nest, list values expand (cartesian)."""
    if not isinstance(specs, list) or not specs:
        raise ValueError("events must be a non-empty list of mappings")
    out: list[tuple[str, dict[str, Any]]] = []
    for spec in specs:
        if not isinstance(spec, dict) or not spec:
            raise ValueError("each event must be a non-empty mapping")
        combos: list[list[tuple[str, Any]]] = [[]]
        for key, value in spec.items():
            choices = value if isinstance(value, list) else [value]
            if not choices:
                raise ValueError(f"event field {key!r} has an empty list")
            combos = [[*combo, (str(key), choice)] for combo in combos for choice in choices]
        for combo in combos:
            event: dict[str, Any] = dict(BASE_EVENT)
            for key, value in combo:
                _set_path(event, key, value)
            label = " ".join(f"{k}={v}" for k, v in combo)
            out.append((label, event))
    return out


# --- trails ----------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None or value is ABSENT:
        return []
    return value if isinstance(value, list) else [value]


def _field(selectors: list[Any], name: str) -> list[Any]:
    return [f for f in selectors if isinstance(f, dict) and f.get("Field") == name]


def trail_records_management_events(trail: Resource) -> bool:
    """True when the trail's selectors record management events, both read and write.

    Basic selectors: ``IncludeManagementEvents`` with ``ReadWriteType`` ``All`` (or a ``ReadOnly``
    and a ``WriteOnly`` selector together). Advanced: a selector with ``eventCategory = Management``
    and no ``readOnly`` field (or a ``readOnly`` true and a false one together). A trail with no
    selectors at all is not assumed to log anything (AWS always answers its default selector).
    Reads ``EventSelectors``/``AdvancedEventSelectors`` through ``read_attribute``, so a failed
    ``GetEventSelectors`` raises ``CollectionFailed`` (ERROR).
    """
    kinds: set[str] = set()
    for selector in _as_list(read_attribute(trail, "EventSelectors")):
        if isinstance(selector, dict) and selector.get("IncludeManagementEvents") is True:
            rw = selector.get("ReadWriteType", "All")
            kinds.update({"read", "write"} if rw == "All" else {"read"} if rw == "ReadOnly" else {"write"})
    for selector in _as_list(read_attribute(trail, "AdvancedEventSelectors")):
        fields = _as_list(selector.get("FieldSelectors")) if isinstance(selector, dict) else []
        category = _field(fields, "eventCategory")
        if not any("Management" in _as_list(f.get("Equals")) for f in category):
            continue
        read_only = _field(fields, "readOnly")
        if not read_only:
            kinds.update({"read", "write"})
        for f in read_only:
            for value in _as_list(f.get("Equals")):
                kinds.add("read" if str(value).lower() == "true" else "write")
            for value in _as_list(f.get("NotEquals")):
                kinds.add("write" if str(value).lower() == "true" else "read")
    return {"read", "write"} <= kinds


def _qualifying_trail(trail: Resource) -> str | None:
    """Why the trail cannot serve CIS 4.x monitoring, or None when it can."""
    if read_attribute(trail, "IsMultiRegionTrail") is not True:
        return "the trail is not multi-region"
    if read_attribute(trail, "IsLogging") is not True:
        return "the trail is not logging"
    if not trail_records_management_events(trail):
        return "the trail does not record read and write management events"
    return None


def _log_group(arn: Any) -> tuple[str, str, str] | None:
    """(region, account, name) from ``arn:aws:logs:<region>:<account>:log-group:<name>[:*]``."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
        return None
    return parts[3], parts[4], parts[6]


# --- CIS 4.1-4.15 ---------------------------------------------------------------------------------


@dataclass
class _Chain:
    ok: bool
    detail: str
    alarm: str = ""
    topic: str = ""


def _confirmed(topic: Resource) -> bool | None:
    """True if the topic has a confirmed subscription; None if its subscriptions are unknown."""
    if "Subscriptions" in topic.errors or "*" in topic.errors:
        return None
    subscriptions = topic.attributes.get("Subscriptions")
    if isinstance(subscriptions, list):
        return any(
            isinstance(s, dict) and str(s.get("SubscriptionArn", "")).startswith("arn:")
            for s in subscriptions
        )
    attributes = topic.attributes.get("Attributes")
    if isinstance(attributes, dict) and "SubscriptionsConfirmed" in attributes:
        try:
            return int(attributes["SubscriptionsConfirmed"]) > 0
        except (TypeError, ValueError):
            return None
    return None


def _alarm_metrics(alarm: Resource) -> set[tuple[str, str]]:
    attrs = alarm.attributes
    metrics = {(str(attrs.get("MetricName")), str(attrs.get("Namespace")))}
    for query in _as_list(attrs.get("Metrics")):
        metric = query.get("MetricStat", {}).get("Metric", {}) if isinstance(query, dict) else {}
        if isinstance(metric, dict) and metric.get("MetricName"):
            metrics.add((str(metric.get("MetricName")), str(metric.get("Namespace"))))
    return metrics


def _alarm_chain(mf: Resource, inventory: Inventory, account: str, region: str, errors: list[str]) -> _Chain:
    metrics = {
        (str(t.get("metricName")), str(t.get("metricNamespace")))
        for t in _as_list(mf.attributes.get("metricTransformations"))
        if isinstance(t, dict)
    }
    alarms = [
        a
        for a in inventory.by_kind(ALARM, account, region)
        if a.attributes.get("ActionsEnabled") is not False and _alarm_metrics(a) & metrics
    ]
    if not alarms:
        return _Chain(False, f"no alarm with actions enabled watches the metric of filter {mf.name}")
    topic_errors = [e for e in inventory.errors_for(TOPIC) if e.account == account]
    reasons: list[str] = []
    for alarm in alarms:
        for action in _as_list(alarm.attributes.get("AlarmActions")):
            if not isinstance(action, str) or ":sns:" not in action:
                continue
            topic = inventory.get(action)
            if topic is None or topic.kind != TOPIC:
                if any(action.split(":")[3] == e.region for e in topic_errors):
                    errors.append(f"SNS topics in {action.split(':')[3]} could not be listed")
                reasons.append(f"alarm {alarm.name} notifies {action}, which was not collected")
                continue
            confirmed = _confirmed(topic)
            if confirmed is True:
                return _Chain(True, "ok", alarm.name, topic.id)
            if confirmed is None:
                errors.append(f"subscriptions of {topic.id} could not be read")
            reasons.append(f"topic {topic.name} has no confirmed subscription")
        if not any(
            isinstance(a, str) and ":sns:" in a for a in _as_list(alarm.attributes.get("AlarmActions"))
        ):
            reasons.append(f"alarm {alarm.name} notifies no SNS topic")
    return _Chain(False, "; ".join(reasons))


@register_hook("cloudtrail_metric_filter_alarm", params={"events": list}, required=("events",))
def cloudtrail_metric_filter_alarm(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when the trail feeds a log group whose metric filters, alarms and subscribed SNS
    topics alert on every sample event in ``events`` (see the module docstring)."""
    events = expand_events(args["events"])
    why_not = _qualifying_trail(resource)
    if why_not:
        return CheckResult(Status.FAIL, why_not)
    place = _log_group(read_attribute(resource, "CloudWatchLogsLogGroupArn"))
    if place is None:
        return CheckResult(Status.FAIL, "the trail does not deliver to CloudWatch Logs")
    region, account, group = place
    errors: list[str] = [
        f"{e.call}: {e.message}"
        for kind in (METRIC_FILTER, ALARM)
        for e in inventory.errors_for(kind)
        if e.account == account and e.region == region
    ]
    chains: dict[str, _Chain] = {}
    matching: dict[str, list[Resource]] = {label: [] for label, _ in events}
    unreadable: list[str] = []
    for mf in inventory.by_kind(METRIC_FILTER, account, region):
        if mf.attributes.get("logGroupName") != group:
            continue
        pattern = mf.attributes.get("filterPattern")
        if not isinstance(pattern, str):
            continue
        try:
            if any(filter_pattern_matches(pattern, routine) for routine in ROUTINE_EVENTS):
                unreadable.append(f"{mf.name}: matches routine events too (pattern too broad)")
                continue
            for label, event in events:
                if filter_pattern_matches(pattern, event):
                    matching[label].append(mf)
        except FilterPatternError as exc:
            unreadable.append(f"{mf.name}: {exc}")
    covered: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    for label, _ in events:
        reasons: list[str] = []
        for mf in matching[label]:
            if mf.id not in chains:
                chains[mf.id] = _alarm_chain(mf, inventory, account, region, errors)
            chain = chains[mf.id]
            if chain.ok:
                covered[label] = {"filter": mf.name, "alarm": chain.alarm, "topic": chain.topic}
                break
            reasons.append(chain.detail)
        else:
            missing[label] = "; ".join(reasons) or f"no metric filter on log group {group} matches"
    evidence: dict[str, Any] = {"log_group": group, "region": region, "covered": covered}
    if unreadable:
        evidence["ignored_filters"] = unreadable
    if not missing:
        return CheckResult(Status.PASS, f"every required event alerts via log group {group}", evidence)
    evidence["missing"] = missing
    first = next(iter(missing.items()))
    if errors:
        evidence["errors"] = sorted(set(errors))
        return CheckResult(Status.ERROR, f"{first[0]}: {first[1]} ({sorted(set(errors))[0]})", evidence)
    message = f"{len(missing)} required event(s) raise no alarm, e.g. {first[0]}: {first[1]}"
    return CheckResult(Status.FAIL, message, evidence)


# --- CIS 3.4 ----------------------------------------------------------------------------------------


@register_hook("cloudtrail_bucket_access_logging")
def cloudtrail_bucket_access_logging(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when the S3 bucket the trail delivers to has server access logging enabled."""
    name = read_attribute(resource, "S3BucketName")
    if name is UNKNOWN:
        return CheckResult(Status.UNKNOWN, "S3BucketName is unknown")
    if not isinstance(name, str) or not name:
        return CheckResult(Status.FAIL, "the trail names no S3 bucket")
    buckets = inventory.find(BUCKET, name=name)
    if not buckets:
        failed = [e for e in inventory.errors_for(BUCKET) if e.account == resource.account]
        if failed:
            return CheckResult(Status.ERROR, f"bucket {name} unknown: {failed[0].call}: {failed[0].message}")
        return CheckResult(Status.UNKNOWN, f"bucket {name} is not in the scan (another account?)",
                           {"bucket": name})  # fmt: skip
    bucket = buckets[0]
    logging = read_attribute(bucket, "Logging")
    if logging is UNKNOWN:
        return CheckResult(Status.UNKNOWN, f"logging of bucket {name} is unknown")
    target = logging.get("LoggingEnabled") if isinstance(logging, dict) else None
    if isinstance(target, dict) and target.get("TargetBucket"):
        return CheckResult(Status.PASS, f"bucket {name} logs access to {target['TargetBucket']}",
                           {"bucket": bucket.id, "target": target.get("TargetBucket")})  # fmt: skip
    return CheckResult(Status.FAIL, f"bucket {name} has no server access logging", {"bucket": bucket.id})


# --- CIS 3.3 ----------------------------------------------------------------------------------------


@register_hook("config_recorder_records_all")
def config_recorder_records_all(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when a recorder records all supported and global resource types and is recording."""
    recorders = _as_list(read_attribute(resource, "ConfigurationRecorders"))
    statuses = _as_list(read_attribute(resource, "ConfigurationRecordersStatus"))
    by_name = {s.get("name"): s for s in statuses if isinstance(s, dict)}
    reasons: list[str] = []
    for recorder in recorders:
        if not isinstance(recorder, dict):
            continue
        name = recorder.get("name")
        group = recorder.get("recordingGroup") or {}
        if group.get("allSupported") is not True or group.get("includeGlobalResourceTypes") is not True:
            reasons.append(f"recorder {name} does not record all resource types including global ones")
            continue
        status = by_name.get(name)
        if status is None or status.get("recording") is not True:
            reasons.append(f"recorder {name} is not recording")
            continue
        if str(status.get("lastStatus", "")).lower() == "failure":
            reasons.append(f"recorder {name} is failing ({status.get('lastErrorCode', 'no code')})")
            continue
        return CheckResult(Status.PASS, f"recorder {name} records every resource type",
                           {"recorder": name, "lastStatus": status.get("lastStatus")})  # fmt: skip
    return CheckResult(Status.FAIL, "; ".join(reasons) or f"no AWS Config recorder in {resource.region}")


# --- CIS 5.1 ----------------------------------------------------------------------------------------


def _whole_space(cidr: Any) -> int | None:
    """4 or 6 when ``cidr`` is the whole IPv4/IPv6 address space, else None."""
    if not isinstance(cidr, str):
        return None
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return net.version if net.prefixlen == 0 else None


def _entry_covers(entry: Mapping[str, Any], port: int) -> bool:
    protocol = str(entry.get("Protocol"))
    if protocol == "-1":
        return True
    if protocol not in ("6", "tcp"):
        return False
    ports = entry.get("PortRange")
    if not isinstance(ports, dict):
        return True
    low, high = ports.get("From"), ports.get("To")
    return isinstance(low, int) and isinstance(high, int) and low <= port <= high


def _rule_number(entry: Mapping[str, Any]) -> int:
    number = entry.get("RuleNumber")
    return number if isinstance(number, int) else 1 << 16


@register_hook("network_acl_public_ingress", params={"port": int}, required=("port",))
def network_acl_public_ingress(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """FAIL when the ACL lets TCP traffic from 0.0.0.0/0 or ::/0 reach ``port`` (rule order)."""
    port = args["port"]
    entries = [
        e
        for e in _as_list(read_attribute(resource, "Entries"))
        if isinstance(e, dict) and e.get("Egress") is False
    ]
    entries.sort(key=_rule_number)
    open_rules: list[int] = []
    for family in (4, 6):
        for entry in entries:
            if _whole_space(entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")) != family:
                continue
            if not _entry_covers(entry, port):
                continue
            if entry.get("RuleAction") == "allow":
                open_rules.append(int(entry.get("RuleNumber", 0)))
            break
    if open_rules:
        rules = ", ".join(map(str, open_rules))
        return CheckResult(Status.FAIL, f"inbound rule(s) {rules} allow port {port} from anywhere",
                           {"rules": open_rules, "port": port})  # fmt: skip
    return CheckResult(Status.PASS, f"port {port} is not open to the internet", {"port": port})
