"""Falco condition language front end: text in, unresolved AST out (the loader resolves names)."""

from yamori.detect.condition.ast import (
    And,
    Compare,
    Exists,
    FieldRef,
    ListItem,
    ListRef,
    ListValue,
    Literal,
    MacroRef,
    Node,
    Not,
    Or,
    ValRef,
    Value,
    leaves,
    referenced_names,
)
from yamori.detect.condition.lexer import ConditionSyntaxError, quote_value
from yamori.detect.condition.parser import MAX_DEPTH, MAX_LENGTH, parse_condition

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "And",
    "Compare",
    "ConditionSyntaxError",
    "Exists",
    "FieldRef",
    "ListItem",
    "ListRef",
    "ListValue",
    "Literal",
    "MacroRef",
    "Node",
    "Not",
    "Or",
    "ValRef",
    "Value",
    "leaves",
    "parse_condition",
    "quote_value",
    "referenced_names",
]
