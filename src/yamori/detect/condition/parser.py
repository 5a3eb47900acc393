"""Recursive-descent parser for Falco filter conditions, with the recursion made explicit.

Grammar (precedence ``or`` < ``and`` < ``not``)::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | "(" expr ")" | check
    check    := field "exists" | field binop value | field listop list | IDENT
    field    := TRANSFORMER "(" field ")" | NAME ("[" arg "]")?
    value    := QUOTED | "val(" field ")" | BARE
    list     := "(" (item ("," item)*)? ")" | IDENT

Parentheses and ``not`` nest, and conditions come from files other people write, so the nesting
levels are kept on an explicit stack rather than Python's: a hostile condition gets a
``ConditionSyntaxError`` at ``max_depth`` instead of a ``RecursionError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
)
from yamori.detect.condition.lexer import ConditionSyntaxError, Scanner, is_identifier

__all__ = [
    "LIST_MODIFIERS",
    "LIST_OPERATORS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "NUMERIC_OPERATORS",
    "STRING_OPERATORS",
    "TRANSFORMERS",
    "parse_condition",
]

MAX_DEPTH = 1000
"""Falco refuses rules nested deeper than this when compiling; we refuse at parse time."""

MAX_LENGTH = 1 << 20
"""Conditions longer than 1 MiB (after list substitution) are refused before any work."""

# Longest first, so ``<=`` is not read as ``<`` followed by ``=``.
_SYMBOL_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">")
NUMERIC_OPERATORS = frozenset({"<", "<=", ">", ">="})
STRING_OPERATORS = frozenset(
    {
        "=",
        "==",
        "!=",
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "bendswith",
        "glob",
        "iglob",
        "regex",
        "pmatch",
    }
)
LIST_OPERATORS = frozenset({"in", "intersects", "pmatch"})
LIST_MODIFIERS = frozenset({"anyof", "oneof", "allof"})
TRANSFORMERS = frozenset({"tolower", "toupper", "b64", "basename", "len"})
_WORD_OPERATORS = (STRING_OPERATORS | LIST_OPERATORS | {"exists"}) - {"=", "==", "!="}


@dataclass(slots=True)
class _Frame:
    """One parenthesised level (or the whole condition) being parsed.

    ``nots`` counts ``not`` keywords waiting for their operand at this level.
    """

    open_pos: int
    or_terms: list[Node] = field(default_factory=list)
    and_terms: list[Node] = field(default_factory=list)
    nots: int = 0

    def add(self, node: Node) -> None:
        """Attach an operand, applying the pending ``not``s (innermost written last)."""
        for _ in range(self.nots):
            node = Not(node)
        self.nots = 0
        self.and_terms.append(node)

    def close_and(self) -> None:
        terms = self.and_terms
        self.or_terms.append(terms[0] if len(terms) == 1 else And(tuple(terms)))
        self.and_terms = []

    def finish(self) -> Node:
        self.close_and()
        terms = self.or_terms
        return terms[0] if len(terms) == 1 else Or(tuple(terms))


class _Parser:
    def __init__(self, text: str, max_depth: int) -> None:
        self.s = Scanner(text)
        self.max_depth = max_depth
        self.depth = 0

    def _deeper(self, pos: int) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.s.error(f"condition nested deeper than {self.max_depth} levels", pos)

    def parse(self) -> Node:
        s = self.s
        stack = [_Frame(open_pos=0)]
        expect_operand = True
        while True:
            s.skip_space()
            frame = stack[-1]
            if expect_operand:
                start = s.pos
                if s.take_keyword("not"):
                    frame.nots += 1
                    self._deeper(start)
                elif s.take("("):
                    self._deeper(start)
                    stack.append(_Frame(open_pos=start))
                elif s.at_end():
                    raise s.error("unexpected end of condition: expected a condition")
                elif s.peek() == ")":
                    raise s.error("unexpected ')': expected a condition")
                elif s.at_keyword("and") or s.at_keyword("or"):
                    raise s.error(f"unexpected '{s.take_word()}': expected a condition", start)
                else:
                    self.depth -= frame.nots
                    frame.add(self._check())
                    expect_operand = False
            elif s.at_end():
                break
            elif s.take_keyword("and"):
                expect_operand = True
            elif s.take_keyword("or"):
                frame.close_and()
                expect_operand = True
            elif s.peek() == ")":
                if len(stack) == 1:
                    raise s.error("unbalanced ')': no matching '('")
                s.take(")")
                stack.pop()
                self.depth -= 1
                parent = stack[-1]
                self.depth -= parent.nots
                parent.add(frame.finish())
            else:
                raise s.error(f"expected 'and', 'or' or ')' but found {self._describe_here()}")
        if len(stack) > 1:
            raise s.error("unbalanced '(': not closed before the end of the condition", stack[-1].open_pos)
        return stack[0].finish()

    def _describe_here(self) -> str:
        s = self.s
        if s.at_end():
            return "the end"
        start = s.pos
        word = s.take_bare_value() or s.peek()
        s.pos = start
        return f"'{word}'"

    def _check(self) -> Node:
        """A comparison, an ``exists`` test or a macro reference."""
        s = self.s
        fld = self._field(allow_macro=True)
        if isinstance(fld, MacroRef):
            return fld
        s.skip_space()
        op_pos = s.pos
        op = self._operator(fld)
        if op == "exists":
            return Exists(fld)
        s.skip_space()
        modifier = self._modifier(op)
        if modifier is not None:
            return Compare(fld, op, self._list(f"{op} {modifier}", op_pos), modifier)
        value = self._value(op, op_pos)
        return Compare(fld, op, value)

    def _modifier(self, op: str) -> str | None:
        """``anyof``/``oneof``/``allof`` after a comparison operator, when a list follows."""
        s = self.s
        if op in LIST_OPERATORS:
            return None
        for word in LIST_MODIFIERS:
            if s.at_keyword(word):
                here = s.pos
                s.pos += len(word)
                s.skip_space()
                if s.peek() == "(":
                    return word
                s.pos = here
        return None

    def _field(self, allow_macro: bool) -> FieldRef | MacroRef:
        """A field, possibly inside transformers; or, when allowed, a bare macro name."""
        s = self.s
        transformers: list[str] = []
        opened = 0
        while True:
            start = s.pos
            name = s.take_field_name()
            if name is None:
                raise s.error(f"expected a field name but found {self._describe_here()}")
            if name in TRANSFORMERS:
                after_name = s.pos
                s.skip_space()
                if s.take("("):
                    self._deeper(start)
                    opened += 1
                    transformers.append(name)
                    s.skip_space()
                    continue
                s.pos = after_name
            break
        if "." not in name:
            if transformers or not allow_macro:
                raise s.error(f"'{name}' is not a field name (fields look like 'proc.name')", start)
            self._refuse_operator_after(name, start)
            return MacroRef(name, pos=start)
        arg: str | None = None
        if s.take("["):
            arg_pos = s.pos
            arg = s.take_quoted()
            if arg is None:
                arg = s.take_bare_arg()
            if arg is None or not s.take("]"):
                raise s.error(f"malformed argument of field '{name}': expected '[arg]'", arg_pos - 1)
        for _ in range(opened):
            s.skip_space()
            if not s.take(")"):
                raise s.error(f"expected ')' to close transformer '{transformers[-1]}'")
        self.depth -= opened
        transformers.reverse()  # application order: innermost first
        return FieldRef(name, arg, tuple(transformers), pos=start)

    def _refuse_operator_after(self, name: str, start: int) -> None:
        """A macro name followed by an operator is a field without its class: say so."""
        s = self.s
        here = s.pos
        s.skip_space()
        followed_by_op = any(s.text.startswith(op, s.pos) for op in _SYMBOL_OPERATORS)
        if not followed_by_op:
            word = s.take_word()
            followed_by_op = word in _WORD_OPERATORS
        s.pos = here
        if followed_by_op:
            raise s.error(f"'{name}' is not a field name (fields look like 'proc.name')", start)

    def _operator(self, fld: FieldRef) -> str:
        s = self.s
        for op in _SYMBOL_OPERATORS:
            if s.take(op):
                return op
        start = s.pos
        if s.at_end():
            raise s.error(f"expected an operator after field '{fld.name}'")
        word = s.take_word()
        if word is not None and word in _WORD_OPERATORS:
            return word
        s.pos = start
        raise s.error(f"unknown operator {self._describe_here()} after field '{fld.name}'")

    def _value(self, op: str, op_pos: int) -> Value:
        s = self.s
        if op in LIST_OPERATORS and (s.peek() == "(" or op != "pmatch"):
            return self._list(op, op_pos)
        if self._at_value_end():
            raise s.error(f"missing value after operator '{op}'")
        if s.at_keyword("val") and self._peek_after_word_is_paren():
            s.take_word()
            s.skip_space()
            s.take("(")
            s.skip_space()
            inner = self._field(allow_macro=False)
            assert isinstance(inner, FieldRef)
            s.skip_space()
            if not s.take(")"):
                raise s.error("expected ')' to close 'val('")
            return ValRef(inner)
        if op in NUMERIC_OPERATORS:
            num = s.take_number()
            if num is None:
                raise s.error(f"expected a number after operator '{op}' but found {self._describe_here()}")
            return Literal(num)
        text = s.take_quoted()
        if text is None:
            text = s.take_bare_value()
        if text is None:
            raise s.error(f"missing value after operator '{op}'")
        return Literal(text)

    def _at_value_end(self) -> bool:
        s = self.s
        return s.at_end() or s.peek() in (")", ",", "(")

    def _peek_after_word_is_paren(self) -> bool:
        s = self.s
        here = s.pos
        s.take_word()
        s.skip_space()
        result = s.peek() == "("
        s.pos = here
        return result

    def _list(self, op: str, op_pos: int) -> ListValue:
        """``(a, "b", other_list)`` or a bare list name after ``in``/``intersects``."""
        s = self.s
        if not s.take("("):
            start = s.pos
            name = s.take_field_name()
            if name is None or not is_identifier(name):
                raise s.error(f"expected a list '(...)' or a list name after operator '{op}'")
            return ListValue((ListRef(name, pos=start),))
        items: list[ListItem] = []
        s.skip_space()
        if s.take(")"):
            return ListValue(())
        while True:
            s.skip_space()
            start = s.pos
            quoted = s.take_quoted()
            if quoted is not None:
                items.append(Literal(quoted))
            else:
                bare = s.take_bare_value()
                if bare is None:
                    raise s.error(f"expected a list item but found {self._describe_here()}")
                items.append(ListRef(bare, pos=start) if is_identifier(bare) else Literal(bare))
            s.skip_space()
            if s.take(")"):
                return ListValue(tuple(items))
            if not s.take(","):
                if s.at_end():
                    raise s.error(f"unbalanced '(': list after '{op}' is not closed", op_pos)
                raise s.error(f"expected ',' or ')' in list but found {self._describe_here()}")


def parse_condition(text: str, *, max_depth: int = MAX_DEPTH, max_length: int = MAX_LENGTH) -> Node:
    """Parse a Falco condition into an AST, leaving macro and list references unresolved.

    Raises ``ConditionSyntaxError`` (with line and column) for any malformed input, including
    nesting deeper than ``max_depth`` and text longer than ``max_length`` characters.
    """
    if len(text) > max_length:
        raise ConditionSyntaxError(f"condition longer than {max_length} characters", text, 0)
    return _Parser(text, max_depth).parse()
