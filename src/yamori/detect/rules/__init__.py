"""Falco rules files: the reader (YAML to typed items) and the collector (merge in load order)."""

from yamori.detect.rules.collector import collect, load_rules_files
from yamori.detect.rules.model import (
    ENGINE_VERSION,
    Level,
    ListItem,
    LoadMessage,
    MacroItem,
    PluginRequirement,
    Position,
    Priority,
    RuleException,
    RuleItem,
    RuleSet,
    RulesFile,
)
from yamori.detect.rules.reader import read_rules_file, read_rules_text

__all__ = [
    "ENGINE_VERSION",
    "Level",
    "ListItem",
    "LoadMessage",
    "MacroItem",
    "PluginRequirement",
    "Position",
    "Priority",
    "RuleException",
    "RuleItem",
    "RuleSet",
    "RulesFile",
    "collect",
    "load_rules_files",
    "read_rules_file",
    "read_rules_text",
]
