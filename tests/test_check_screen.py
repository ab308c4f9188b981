"""The screen of C files: every file symgrad generates passes it, every disguise is refused.

The screen runs inside the compiling sandbox (``test_check_attacks.py`` runs the disguises
through ``symgrad check``); here it is called directly, on the text of generated files of every
form and real type, and on each way of reaching the preprocessor or the assembler in disguise.
A refusal names the construct and its line and nothing of what surrounds it.
"""

from __future__ import annotations

import pytest

from symgrad.check.screen import Refused, screen
from symgrad.check.source import C_INCLUDES
from symgrad.codegen import generate
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

CASES = [
    ((2, 3, 2), None, "unrolled", "double"),
    ((3, 4, 4, 2), "tanh,relu", "looped", "double"),
    ((4, 6, 3), "x/(1+abs(x))", "unrolled", "float"),
    ((3, 5, 5, 2), "softplus", "looped", "float"),
]


def files(sizes: tuple[int, ...], activation: str | None, style: str, dtype: str) -> dict:
    spec = NetworkSpec.parse(list(sizes), activation)
    made = generate(derive(spec, prove=False), "c", style, dtype, name="net")
    return {f.suffix: f.text for f in made}


@pytest.mark.parametrize(("sizes", "activation", "style", "dtype"), CASES)
def test_generated_c_passes_the_screen(
    sizes: tuple[int, ...], activation: str | None, style: str, dtype: str
) -> None:
    found = files(sizes, activation, style, dtype)
    screen("net.c", found[".c"], C_INCLUDES | {'"net.h"'})
    screen("net.h", found[".h"], C_INCLUDES)


#: A line added after ``#include <stddef.h>``, and what the refusal must name.
DISGUISES = {
    "vertical-tab": ('\v#include "/etc/secret"\n', "control character 0x0b"),
    "form-feed": ('\f#include "/etc/secret"\n', "control character 0x0c"),
    "nul": ('\0#include "/etc/secret"\n', "control character 0x00"),
    "carriage-return": ('// x\r#include "/etc/secret"\n', "control character 0x0d"),
    "tab": ('\t#include "/etc/secret"\n', "control character 0x09"),
    "quote": ('#define QUOTE \' /*\n#include "/etc/secret"\n/* */\n', "outside comments"),
    "digraph": ('%:include "/etc/secret"\n', "'%:'"),
    "trigraph": ('??=include "/etc/secret"\n', "trigraph"),
    "splice": ('#\\\ninclude "/etc/secret"\n', "a backslash"),
    "comment-inside": ('#/**/include "/etc/secret"\n', "includes something other than"),
    "include": ('#include "/etc/secret"\n', "includes something other than"),
    "include-next": ("#include_next <stdio.h>\n", "directive #include_next"),
    "pragma": ('#pragma GCC dependency "/etc/secret"\n', "directive #pragma"),
    "pasted-pragma": ("#define P(a, b) a##b\n", "'#' that does not start a directive"),
    "stringized": ("#define S(a) #a\n", "'#' that does not start a directive"),
    "_Pragma": ('_Pragma("GCC dependency \\"/etc/secret\\"")\n', "a backslash"),
    "_Pragma-plain": ('_Pragma("once")\n', "identifier _Pragma"),
    "asm": ('__asm__(".incbin /etc/secret");\n', "identifier __asm__"),
    "asm-keyword": ('asm(".include /etc/secret");\n', "identifier asm"),
    "attribute": ('int x __attribute__((section(".data")));\n', "identifier __attribute__"),
    "has-include": ("#ifdef __has_include\n#endif\n", "identifier __has_include"),
    "utf8-code": ("static const double caf\u00e9 = 1;\n", "U+00E9"),
    "character-constant": ("static const int q = 'a';\n", "outside comments"),
}


@pytest.mark.parametrize("disguise", DISGUISES)
def test_disguises_are_refused(disguise: str) -> None:
    line, named = DISGUISES[disguise]
    text = files(*CASES[0])[".c"]
    text = text.replace("#include <stddef.h>\n", f"#include <stddef.h>\n{line}", 1)
    with pytest.raises(Refused) as refused:
        screen("net.c", text, C_INCLUDES | {'"net.h"'})
    message = str(refused.value)
    assert named in message, message
    assert "/etc/secret" not in message and "(line " in message


def test_comments_may_hold_anything_printable() -> None:
    """The notes' symbols in comments, quotes and comment marks inside them, are comments."""
    text = files(*CASES[0])[".c"]
    extra = '// ∇_W₁ L̄ = Δ₁ᵀ X, "it\'s" /* not a comment start */\n/* // \' " # */\n'
    screen(
        "net.c",
        text.replace("#include <stddef.h>\n", "#include <stddef.h>\n" + extra, 1),
        C_INCLUDES | {'"net.h"'},
    )
