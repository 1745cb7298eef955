"""Action labels -> English sentences for the text encoder, and the label vocabulary of a dataset.

Label strings (as stored in `Motion.labels`):
- Bandai-Namco: "content|style", e.g. "walk-back|not-confident" -> "a person walks backwards in an
  unconfident way" (frame: `TextConfig.template_bandai`).
- Plain labels (Human3.6M framewise, BABEL, ...): "sitting down" -> "a person is sitting down"
  (frame: `TextConfig.template_h36m`).

Rendering the Bandai template: `{content}s` receives the third-person verb phrase ("walks
backwards", "waves goodbye with both hands"), a bare `{content}` the base form ("walk backwards");
`{style}` receives an adjective and the article before it is fixed ("a angry" -> "an angry").
Words missing from the tables fall back to the word itself with dashes as spaces, so a new dataset
still gets a readable (if plain) sentence.
"""
from __future__ import annotations

import re

from ..config import TextConfig

FIELDS = ("full", "content")

# Bandai-Namco content -> base-form verb phrase (the first verb, and any verb after "and", is
# conjugated for "{content}s"). Datasets 1 and 2.
CONTENT_PHRASES: dict[str, str] = {
    "walk": "walk",
    "run": "run",
    "dash": "dash",
    "walk-back": "walk backwards",
    "walk-left": "walk to the left",
    "walk-right": "walk to the right",
    "walk-turn-left": "walk and turn left",
    "walk-turn-right": "walk and turn right",
    "bow": "bow",
    "bye": "wave goodbye",
    "byebye": "wave goodbye with both hands",
    "guide": "point the way",
    "respond": "respond to a call",
    "call": "call someone over",
    "punch": "punch",
    "kick": "kick",
    "slash": "slash with a sword",
    "dance-long": "dance a long dance",
    "dance-short": "dance a short dance",
    "raise-up-both-hands": "raise both hands",
    "raise-up-left-hand": "raise the left hand",
    "raise-up-right-hand": "raise the right hand",
    "wave-both-hands": "wave both hands",
    "wave-left-hand": "wave the left hand",
    "wave-right-hand": "wave the right hand",
}

# Bandai-Namco style -> adjective for "in a {style} way". Distinct source words keep distinct
# adjectives where they differ in meaning; dataset 1's "masculinity" and dataset 2's "masculine"
# name the same style and render the same.
STYLE_ADJECTIVES: dict[str, str] = {
    "normal": "normal",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "proud": "proud",
    "not-confident": "unconfident",
    "masculinity": "masculine",
    "masculine": "masculine",
    "feminine": "feminine",
    "childish": "childish",
    "youthful": "youthful",
    "old": "old",
    "elderly": "elderly",
    "tired": "tired",
    "exhausted": "exhausted",
    "active": "energetic",
    "musical": "musical-theatre",
    "giant": "giant-like",
    "chimpira": "thug-like",
}

_IRREGULAR = {"be": "is", "have": "has", "do": "does", "go": "goes"}


def _third_person(verb: str) -> str:
    """Present-tense third person singular of an English verb ("punch" -> "punches")."""
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if re.search(r"(s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def conjugate(phrase: str) -> str:
    """Base-form verb phrase -> third person ("walk and turn left" -> "walks and turns left")."""
    words = phrase.split()
    out = []
    for i, w in enumerate(words):
        out.append(_third_person(w) if i == 0 or words[i - 1] == "and" else w)
    return " ".join(out)


def _plain(word: str) -> str:
    return re.sub(r"[-_]+", " ", word).strip()


def content_phrase(content: str) -> str:
    """Base-form verb phrase of a Bandai content word (generic fallback: dashes -> spaces)."""
    return CONTENT_PHRASES.get(content, _plain(content))


def style_adjective(style: str) -> str:
    return STYLE_ADJECTIVES.get(style, _plain(style))


def _fix_articles(s: str) -> str:
    """'a' -> 'an' before a vowel sound ("a angry" -> "an angry"; "a unconfident" -> "an unconfident")."""
    return re.sub(r"\b([Aa]) (?=(?:[aeio]|un)\w*)", lambda m: m.group(1) + "n ", s)


def _tidy(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def is_bandai(label: str) -> bool:
    """Bandai-Namco labels are "content|style"."""
    return "|" in label


def content_of(label: str) -> str:
    """"walk-back|sad" -> "walk-back"; a plain label is its own content."""
    return label.split("|", 1)[0]


def style_of(label: str) -> str | None:
    """"walk-back|sad" -> "sad"; None for a plain label."""
    return label.split("|", 1)[1] if is_bandai(label) else None


def vocab_key(label: str, field: str = "content") -> str:
    """The vocabulary entry a label counts towards (same rule as data.dataset.LabelVocab.key_of)."""
    _check_field(field)
    return content_of(label) if field == "content" else label


_SIDE = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}


def mirror_label(label: str) -> str:
    """The label of the horizontally mirrored motion: "left" <-> "right" as whole words of the label
    ("wave-left-hand|happy" -> "wave-right-hand|happy", "turn left" -> "turn right"); labels naming
    no side are their own mirror image."""
    return re.sub(r"(?<![A-Za-z])(left|right|Left|Right)(?![A-Za-z])", lambda m: _SIDE[m.group(1)], label)


def _check_field(field: str) -> None:
    if field not in FIELDS:
        raise ValueError(f"label field {field!r}: expected 'full' or 'content' (config align.label_field)")


def _render_bandai(content: str, style: str | None, template: str) -> str:
    if "{content}" not in template:
        raise ValueError(f"text.template_bandai = {template!r}: expected a {{content}} placeholder")
    if style is None:
        # Content only: keep the template up to the verb and drop the style clause (everything
        # after the verb that holds {style}), so "a person {content}s in a {style} way" -> "a person
        # {content}s".
        cut = template.index("{content}") + len("{content}")
        if template[cut:cut + 1] == "s":
            cut += 1
        rest = template[cut:]
        head = template[:cut].replace("{style}", "")
        template = head + ("" if "{style}" in rest else rest)
    phrase = content_phrase(content)
    s = template.replace("{content}s", conjugate(phrase)).replace("{content}", phrase)
    if style is not None:
        s = s.replace("{style}", style_adjective(style))
    return _fix_articles(_tidy(s))


def _render_plain(label: str, template: str) -> str:
    if "{label}" not in template:
        raise ValueError(f"text.template_h36m = {template!r}: expected a {{label}} placeholder")
    return _tidy(template.replace("{label}", _plain(label).lower()))


def label_to_sentence(label: str, cfg: TextConfig | None = None, field: str = "full") -> str:
    """One label (or a vocabulary key) -> its sentence.

    field="full": content and style ("a person walks backwards in a sad way");
    field="content": content only ("a person walks backwards"). Plain labels render the same either way.
    """
    cfg = cfg or TextConfig()
    _check_field(field)
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label {label!r}: expected a non-empty label text")
    if is_bandai(label):
        content, style = label.split("|", 1)
        if not content.strip():
            raise ValueError(f"label {label!r}: expected 'content|style' with a non-empty content")
        return _render_bandai(content.strip(), None if field == "content" else style.strip(), cfg.template_bandai)
    if field == "content" and _looks_bandai_content(label):
        # A vocabulary key cut from a Bandai label ("walk-back") has lost its "|": Bandai frame.
        return _render_bandai(label, None, cfg.template_bandai)
    return _render_plain(label, cfg.template_h36m)


def _looks_bandai_content(key: str) -> bool:
    """A known Bandai content word, or a dashed single token like "raise-up-both-hands"."""
    return key in CONTENT_PHRASES or (" " not in key and "-" in key)
