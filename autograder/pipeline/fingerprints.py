"""Fingerprints of code, and the pairs of students whose fingerprints are unusually alike.

The engine of the similarity step (autograder.pipeline.similarity), after MOSS's
winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003):

- tokens(source): Python's tokenize, with what a copier changes for free normalized
  away. Comments, docstrings (a statement that is only a string), blank lines,
  indentation and spacing are dropped; every literal becomes
  one token (a number ``0``, a string ``S``, an f-string one ``S`` as well); a name
  becomes ``N`` unless it is a keyword, a builtin, an attribute (after ``.``) or a keyword
  argument (``axis=``): renaming variables changes nothing, while ``np.mean`` and
  ``np.var`` stay apart. A cell Python cannot tokenize to the end is read on from
  where tokenize stopped by a plain pattern (words, numbers, strings, symbols).
- K-grams: every run of K consecutive tokens of a cell is hashed (a rolling hash over
  stable token hashes, the same in every run); winnowing keeps, of each WINDOW
  consecutive k-gram hashes, the smallest (the rightmost of equals). Any match of at
  least K + WINDOW - 1 tokens shares a fingerprint; no match shorter than K does.
- What every student is given is no evidence: k-grams that occur anywhere in the
  release's code (the stubs, signatures and docstrings) are not fingerprints.
- What many students write alike is weak evidence, and is discounted as MOSS does: a
  fingerprint held by more than common_limit(n) of the n students compared is common
  and ignored, so the canonical lines that half the class writes alike make no pair.
- similar_pairs: an inverted index from each fingerprint that is not common to the
  students holding it gives, for every pair that shares one, how many they share;
  only such pairs are ever scored, never all n (n - 1) / 2. A pair is reported when it
  shares at least MIN_SHARED distinctive fingerprints (about six lines of code).

Everything here is plain Python over text: it runs nothing a student wrote.

Why not copydetect (PyPI, 0.5.0), which also winnows: it compares every pair of files
(its cost grows with the square of the class) and knows boilerplate but no discount of
code common across the class. On 200 of the benchmark's synthetic students
(bench/bench_similarity.py) it took four minutes and rated all 19,900 pairs at least
50 % similar; this engine takes seconds for them, and a minute or two for
2,000 students (bench/results.md).
"""

import builtins
import hashlib
import io
import keyword
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

K = 12  # tokens per k-gram: shorter matches are noise (one short line)
WINDOW = 8  # winnowing window: any match of K + WINDOW - 1 = 19 tokens is found
MIN_SHARED = 12  # distinctive fingerprints a pair must share to be reported
COMMON_STUDENTS = 10  # a fingerprint held by more students than this is common (MOSS's -m)
COMMON_SHARE = 0.1  # ... or, in a small class, by more than this share of it (at least 2)
MAX_TOKENS = 100_000  # tokens read of one student (the reference solution has 1,816)

_MODULUS = (1 << 61) - 1
_BASE = 1_000_003
_DROPPED = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
    tokenize.ENCODING,
}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12 and later
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)
_BUILTINS = frozenset(dir(builtins))
# The fallback for what tokenize cannot read: strings, names, numbers, single symbols.
_PLAIN = re.compile(
    r"""(?P<string>'[^'\n]*'?|"[^"\n]*"?)|(?P<name>[^\W\d]\w*)|(?P<number>\d[\w.]*)|(?P<op>\S)"""
)


def common_limit(students):
    """The most students a fingerprint may be held by and still count as evidence, in a
    class of `students`: COMMON_STUDENTS, or COMMON_SHARE of a small class, at least 2."""
    share = -(-students * COMMON_SHARE // 1)  # the share, rounded up
    return int(max(2, min(COMMON_STUDENTS, share)))


# ------------------------------------------------------------------ tokens


def _line_starts(source):
    starts = [0, 0]  # tokenize numbers lines from 1
    for line in io.StringIO(source):
        starts.append(starts[-1] + len(line))
    return starts


def _name(text, previous):
    """A name token, normalized, after the token `previous` (see the module's docstring;
    a keyword argument's name is restored by `tokens` when it meets the ``=``)."""
    if keyword.iskeyword(text) or text in _BUILTINS or previous == ".":
        return text
    return "N"


def _plain_tokens(source, start, limit):
    """(token, start, end) of source[start:], read with _PLAIN, at most `limit` of them."""
    found = []
    for match in _PLAIN.finditer(source, start):
        if len(found) >= limit:
            break
        kind = match.lastgroup
        text = {"string": "S", "number": "0"}.get(kind, match.group())
        if kind == "name":
            text = _name(text, found[-1][0] if found else None)
        found.append((text, match.start(), match.end()))
    return found


def tokens(source, limit=MAX_TOKENS):
    """The normalized tokens of one cell's `source`: a list of (text, start, end), start
    and end its character offsets in `source`; at most `limit` tokens."""
    starts = _line_starts(source)
    found, depth, fstring, reached, statement = [], 0, 0, 0, 0
    raw = []  # the unnormalized text of each token found
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            start = starts[token.start[0]] + token.start[1]
            end = starts[token.end[0]] + token.end[1]
            reached = max(reached, end)
            if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if len(found) > statement and all(t[0] == "S" for t in found[statement:]):
                    del found[statement:], raw[statement:]  # a docstring, or a bare string
            if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                statement = len(found)
            if token.type == _FSTRING_START:
                fstring += 1
                if fstring == 1:
                    found.append(("S", start, end))
                    raw.append("S")
                continue
            if fstring:
                if token.type == _FSTRING_END:
                    fstring -= 1
                    found[-1] = ("S", found[-1][1], end)
                continue
            if token.type in _DROPPED or not token.string.strip():
                continue
            text = token.string
            if token.type == tokenize.NAME:
                text = _name(text, raw[-1] if raw else None)
            elif token.type == tokenize.NUMBER:
                text = "0"
            elif token.type == tokenize.STRING:
                text = "S"
            elif text in "([{":
                depth += 1
            elif text in ")]}":
                depth = max(0, depth - 1)
            elif text == "=" and depth and len(raw) >= 2 and raw[-2] in ("(", ","):
                if found[-1][0] == "N":  # a keyword argument's name: not renamed
                    found[-1] = (raw[-1], *found[-1][1:])
            found.append((text, start, end))
            raw.append(token.string)
            if len(found) >= limit:
                return found[:limit]
    except (tokenize.TokenError, SyntaxError, ValueError):
        # tokenize stopped (an unclosed bracket or string, a bad dedent): read on by hand
        found += _plain_tokens(source, reached, limit - len(found))
    return found


# ------------------------------------------------------------------ fingerprints


class Hasher:
    """Stable hashes of normalized tokens and of their k-grams (the same in every run)."""

    def __init__(self, k=K):
        self.k = k
        self._ids = {}
        self._top = pow(_BASE, k - 1, _MODULUS)

    def token_id(self, text):
        found = self._ids.get(text)
        if found is None:
            digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest()
            found = self._ids[text] = int.from_bytes(digest, "big") % _MODULUS
        return found

    def kgrams(self, texts):
        """The hash of every run of k consecutive `texts`, in order (none if fewer)."""
        k = self.k
        if len(texts) < k:
            return []
        ids = [self.token_id(text) for text in texts]
        value = 0
        for i in range(k):
            value = (value * _BASE + ids[i]) % _MODULUS
        hashes = [value]
        top = self._top
        for i in range(k, len(ids)):
            value = ((value - ids[i - k] * top) * _BASE + ids[i]) % _MODULUS
            hashes.append(value)
        return hashes


def winnow(hashes, window=WINDOW):
    """[(hash, position)] chosen by robust winnowing: of each `window` consecutive hashes
    the smallest, the rightmost of equals, each position once."""
    chosen, last = [], -1
    for start in range(max(1, len(hashes) - window + 1)):
        chunk = hashes[start : start + window]
        if not chunk:
            break
        smallest = min(chunk)
        position = start + len(chunk) - 1 - chunk[::-1].index(smallest)
        if position != last:
            chosen.append((smallest, position))
            last = position
    return chosen


@dataclass
class Cell:
    """One cell of a student's code: its name (e.g. the grade_id), source and tokens."""

    name: str
    source: str
    tokens: list = field(default_factory=list)

    def fingerprints(self, hasher, excluded=frozenset(), window=WINDOW):
        """[(hash, position)] of this cell: its winnowed k-grams not in `excluded`."""
        hashes = hasher.kgrams([text for text, _, _ in self.tokens])
        return [(h, p) for h, p in winnow(hashes, window) if h not in excluded]


def given_kgrams(sources, hasher):
    """Every k-gram hash of the code in `sources` (the release's code cells): no evidence."""
    found = set()
    for source in sources:
        found.update(hasher.kgrams([text for text, _, _ in tokens(source)]))
    return found


# ------------------------------------------------------------------ pairs


@dataclass(frozen=True)
class Pair:
    """Two students (a < b) and what they share: `shared` distinctive fingerprints, of the
    `distinctive_a` and `distinctive_b` each holds; `score` = shared over the smaller."""

    a: str
    b: str
    shared: int
    distinctive_a: int
    distinctive_b: int

    @property
    def score(self):
        smaller = min(self.distinctive_a, self.distinctive_b)
        return self.shared / smaller if smaller else 0.0


def similar_pairs(prints, min_shared=None, limit=None):
    """(pairs, common): the pairs of students that share at least `min_shared` (default
    MIN_SHARED) fingerprints held by at most `limit` students (default common_limit of
    the class),
    best first (most shared, then highest score, then by name); and the set of
    fingerprints too common to count.

    prints -- {student: set of fingerprint hashes}
    """
    students = sorted(prints)
    limit = common_limit(len(students)) if limit is None else limit
    min_shared = MIN_SHARED if min_shared is None else min_shared
    holders = defaultdict(list)
    for number, student in enumerate(students):
        for value in prints[student]:
            holders[value].append(number)
    common = {value for value, held in holders.items() if len(held) > limit}
    distinctive = [len(prints[student]) for student in students]
    for value in common:
        for number in holders[value]:
            distinctive[number] -= 1
    shared = defaultdict(int)
    for held in holders.values():
        if 2 <= len(held) <= limit:
            for pair in combinations(held, 2):
                shared[pair] += 1
    pairs = [
        Pair(students[i], students[j], count, distinctive[i], distinctive[j])
        for (i, j), count in shared.items()
        if count >= min_shared
    ]
    pairs.sort(key=lambda p: (-p.shared, -p.score, p.a, p.b))
    return pairs, common


def marks(cells, hasher, wanted, window=WINDOW):
    """{cell index: [(start, end)]}: the character spans of the tokens of `cells` in k-grams
    whose fingerprint is in `wanted`, merged where only spaces on one line part them."""
    found = {}
    for index, cell in enumerate(cells):
        spans = set()
        for value, position in cell.fingerprints(hasher, window=window):
            if value in wanted:
                spans.update((s, e) for _, s, e in cell.tokens[position : position + hasher.k])
        merged = []
        for start, end in sorted(spans):
            if merged:
                gap = cell.source[merged[-1][1] : start]
                if start <= merged[-1][1] or (not gap.strip() and "\n" not in gap):
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                    continue
            merged.append((start, end))
        if merged:
            found[index] = merged
    return found
