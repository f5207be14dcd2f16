"""What a key's name may hold, and when two names look the same.

Names are what people read before they revoke a key, so two active keys must
never look alike. Three rules, after NFKC normalization (which folds
full-width letters, ligatures, mathematical alphabets and odd spaces into
their plain form):

1. Nothing invisible: controls, format characters (zero-width, bidirectional
   overrides), separators other than the plain space, Unicode's
   default-ignorable code points (variation selectors, fillers...) and the
   few visible-as-nothing symbols.
2. One alphabet per word among those whose letters look alike: "pаypal"
   with a Cyrillic "а" is refused (after Unicode TR39's mixed-script rule,
   for Latin, Greek, Cyrillic, Armenian, Cherokee and Coptic).
3. Names are compared by their skeleton: case-folded, with Greek and
   Cyrillic letters mapped to the Latin ones they look like, so an
   all-Cyrillic "аре" is the same name as "ape".
"""

import unicodedata

from django.utils.translation import gettext_lazy

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): code
# points that render as nothing when a font has no glyph for them.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# Drawn as blank space although they are symbols or letters.
BLANK_LOOKING = frozenset("\u2800\U0001d159\U00016fe4")
# Controls, format characters, surrogates, private use, unassigned, and
# every separator (the plain space is allowed by the caller).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
# Spaces that NFKC turns into a plain space: accepted as typed, stored as " ".
UNICODE_SPACES = "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"

# Unicode's name prefix → the alphabet's name, for the error message.
LOOK_ALIKE_ALPHABETS = {
    "LATIN": gettext_lazy("Latin"),
    "GREEK": gettext_lazy("Greek"),
    "CYRILLIC": gettext_lazy("Cyrillic"),
    "ARMENIAN": gettext_lazy("Armenian"),
    "CHEROKEE": gettext_lazy("Cherokee"),
    "COPTIC": gettext_lazy("Coptic"),
}
# Greek and Cyrillic letters drawn like Latin ones (after case folding).
_LATIN_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ѕ": "s", "і": "i", "ј": "j", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ү": "y",
        # Greek
        "α": "a", "β": "b", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "m", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j",
    }
)  # fmt: skip


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def refused_character(text: str, allowed: str = " ") -> str | None:
    """The first character of `text` that no name or description may hold, if any."""
    for char in text:
        if char in allowed:
            continue
        code = ord(char)
        if (
            char in BLANK_LOOKING
            or unicodedata.category(char) in REFUSED_CATEGORIES
            or any(low <= code <= high for low, high in DEFAULT_IGNORABLE)
        ):
            return char
    return None


def starts_with_a_mark(text: str) -> bool:
    """A combining mark with nothing to combine with draws over whatever precedes the name."""
    return bool(text) and unicodedata.category(text[0]).startswith("M")


def look_alike_alphabets(text: str) -> list[str]:
    """The alphabets (their names) one word of `text` mixes among those whose letters look alike (empty if none).

    Per word: "Ключ для CI" is Russian with a Latin acronym, and fine;
    "pаypal" hides a Cyrillic letter in a Latin word.
    """
    for word in text.split(" "):
        found = []
        for char in word:
            if unicodedata.category(char).startswith("L"):
                alphabet = unicodedata.name(char, "").split(" ", 1)[0]
                if alphabet in LOOK_ALIKE_ALPHABETS and alphabet not in found:
                    found.append(alphabet)
        if len(found) > 1:
            return [str(LOOK_ALIKE_ALPHABETS[alphabet]) for alphabet in found]
    return []


def skeleton(name: str) -> str:
    """What a name looks like: two names with the same skeleton are the same name to a reader."""
    return name.casefold().translate(_LATIN_LOOK_ALIKES)
