"""FAQ chatbot engine: intents + BM25 retrieval over an editable knowledge base.

Everything the center publishes (answers, synonyms, trigger words, reply
texts, thresholds) lives in the data directory; this module only holds logic.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
import tempfile
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jieba
import yaml
from pypinyin import lazy_pinyin

from server.core.redact import strip_personal

from .facts import load as load_facts
from .normalize import normalize, strip_punct

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"
# libyaml's safe loader when PyYAML was built with it (several times faster at start-up), else the Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# jieba logs "Building prefix dict..." at DEBUG on every tokenizer build.
jieba.setLogLevel(logging.WARNING)

# Okapi BM25 parameters (standard values; documents here are short, so the
# length normalisation only matters mildly).
BM25_K1 = 1.2
BM25_B = 0.75
# Confidence tuning (see Bot._retrieve), fitted on the dev questions and
# tests/bot/test_phrasings.py. A word of the question that an entry lacks
# lowers that entry's coverage at this fraction of its weight.
OOV_MISS_FACTOR = 0.6
KNOWN_MISS_FACTOR = 0.5
# Confidence multiplier when the best entry does not lead the runner-up at all.
SEP_BASE = 0.45
# A relative rank margin of 1/SEP_GAIN_RANK, or a coverage lead of
# 1/SEP_GAIN_COV, over the runner-up counts as fully separated.
SEP_GAIN_RANK = 4.0
SEP_GAIN_COV = 5.0
# Distinct message texts whose replies a snapshot keeps (the cache starts over when full).
ANSWER_CACHE_SIZE = 20_000
# Share of normalised BM25 in the ranking (the rest is coverage).
RANK_BM25_SHARE = 0.3
# Fact-level matching: the words of an entry's answer count for it too, at these fractions of a word of its
# question, phrasings or keywords ("要带户口本吗" finds the materials entry whose answer lists 户口簿).
ANSWER_COVER_CREDIT = 0.6
ANSWER_BM25_SHARE = 0.35
# A word that is some entry's own (in its question, phrasings or keywords: 委托, 公证) found only in another entry's
# answer counts at this fraction instead: that word has a home, and its home entry is the likelier one.
HOMED_ANSWER_CREDIT = 0.3
# Weak words (weakwords.txt: 附近, 在哪, 多少钱…) count at this fraction of their weight, so they cannot
# carry a question alone: "大厅附近有便利店吗" is about a shop, not about the halls.
WEAK_WORD_FACTOR = 0.3
# The sub-words of a long word (不动, 产权, 证书 of 不动产权证书) add to BM25 at this fraction: they find entries that
# word meets only in part, without outweighing the words the question said.
SUBWORD_BM25_SHARE = 0.5
# A word at least this frequent in jieba's dictionary is never taken for a homophone typo.
COMMON_WORD_FREQ = 100
# Character bigrams of a word no entry has, matched against the entries' bigrams, at this fraction.
BIGRAM_CREDIT = 0.5
# When a question has a word no entry's question, phrasings or keywords have, an entry is only answered (or
# offered) when the question also meets it on an anchor: a word of its question,
# phrasings or keywords that few entries share (IDF at least this: in at most ~1 entry in 9). Aspect
# words shared by many entries (材料, 费用, 多久, 办理流程) and words only in its answer cannot carry it alone:
# "营业执照怎么办" must not get the mortgage entry whose answer mentions a bank's 营业执照.
ANCHOR_IDF = 1.9
# A question without an anchor word is still answered when its confidence is at least this: it says nothing
# specific, but what it says one entry covers clearly ahead of the rest ("离我家最近的大厅在哪", "抵押多久能登记好":
# 抵押 and 多久 are shared by many entries, yet one covers both well). 0.45–0.55 measured alike on every tuning
# part (0.8 before: two right answers lost to "您是不是想问", no out-of-domain question moved); the upper end is
# kept as the guard against questions about something else.
UNANCHORED_ANSWER = 0.55
# A word of the question that an entry's wording holds only inside a longer word (住宅 in 非住宅, 预约 in
# 免预约) covers it at this fraction.
SUBWORD_COVER_CREDIT = 0.7
# Aspect words (intents.yaml settings.aspect_words: 材料, 费用, 多久, 预约…) say which side of a business is asked.
# Among the first ASPECT_TOP candidates, an entry whose own wording lacks an aspect word of the question loses this
# much rank per missing word, so the sibling that speaks of that side comes first (the fee entry of resale for
# "过户谁付钱", not its materials entry).
# Measured on every tuning part: 0.3 gains three right answers and loses none; 0.2–0.35 all gain but lose one
# elsewhere (a narrow optimum: see docs/benchmarks.md).
ASPECT_PENALTY = 0.3
ASPECT_TOP = 3
# The sibling that speaks of the asked side must be among the first SIBLING_TOP - 1 runners-up and cover the question
# at least this share of the best entry's coverage.
SIBLING_TOP = 5
SIBLING_COVER = 0.6
# The data files besides the entries (kb.yaml), by name; the knowledge base's source holds their text.
DATA_FILES = ("intents.yaml", "synonyms.yaml", "stopwords.txt", "userdict.txt", "weakwords.txt", "offtopic.txt")
OPTIONAL_FILES = ("weakwords.txt", "offtopic.txt")  # older data directories lack them


@dataclass
class BotReply:
    kind: str  # "answer" | "suggest" | "fallback" | "intent"
    text: str
    entry_id: str | None = None
    score: float = 0.0
    candidates: list[tuple[str, str, float]] = field(default_factory=list)
    intent: str | None = None  # None | "booking" | "progress" | "greeting"
    receipt_no: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["candidates"] = [list(c) for c in self.candidates]
        return d


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    question: str
    phrasings: tuple[str, ...]
    keywords: tuple[str, ...]
    answer: str


class DataError(ValueError):
    """The data directory is missing a file or a file is malformed."""


@dataclass(frozen=True)
class KbSource:
    """Everything a bot is built from: the entries (as dicts) and the text of the other data files.

    Read from a data directory (`dengji ask`, tests) or from the database (the service: every host answers
    from the same rows)."""

    entries: tuple[dict[str, Any], ...]
    files: dict[str, str]

    @classmethod
    def from_dir(cls, data_dir: Path) -> KbSource:
        raw = _load_yaml(data_dir / "kb.yaml")
        entries = raw.get("entries") if isinstance(raw, dict) else None
        if not isinstance(entries, list) or not entries:
            raise DataError("kb.yaml: expected a non-empty 'entries' list")
        files = {}
        for name in DATA_FILES:
            path = data_dir / name
            if path.is_file():
                files[name] = path.read_text(encoding="utf-8")
            elif name not in OPTIONAL_FILES:
                raise DataError(f"missing data file: {path}")
        return cls(entries=tuple(entries), files=files)


# ──────────────────────────── data loading ────────────────────────────


def _load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return yaml.load(f, Loader=_YAML_LOADER)
    except FileNotFoundError as e:
        raise DataError(f"missing data file: {path}") from e
    except yaml.YAMLError as e:
        raise DataError(f"{path.name}: invalid YAML: {e}") from e


def _parse_yaml(name: str, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        raise DataError(f"{name}: invalid YAML: {e}") from e


def _lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def load_entries(path: Path) -> list[Entry]:
    data = _load_yaml(path)
    raw = data.get("entries") if isinstance(data, dict) else None
    return parse_entries(raw, path.name)


def parse_entries(raw: Any, name: str = "kb.yaml") -> list[Entry]:
    """Validate entry dicts and return them as entries (DataError names the first problem)."""
    path = Path(name)
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path.name}: expected a non-empty 'entries' list")
    entries: list[Entry] = []
    seen: set[str] = set()
    for i, e in enumerate(raw):
        if not isinstance(e, dict):
            raise DataError(f"{path.name}: entry #{i + 1} is not a mapping")
        for key in ("id", "question", "answer"):
            if not isinstance(e.get(key), str) or not e[key].strip():
                raise DataError(f"{path.name}: entry #{i + 1} needs a non-empty '{key}'")
        if e["id"] in seen:
            raise DataError(f"{path.name}: duplicate id '{e['id']}'")
        seen.add(e["id"])
        entries.append(
            Entry(
                id=e["id"].strip(),
                category=str(e.get("category") or ""),
                question=e["question"].strip(),
                phrasings=tuple(str(p) for p in (e.get("phrasings") or [])),
                keywords=tuple(str(k) for k in (e.get("keywords") or [])),
                answer=e["answer"].strip(),
            )
        )
    return entries


# ──────────────────────────── tokenizer ────────────────────────────

_base_lock = threading.Lock()
_base_dict: tuple[dict[str, int], int] | None = None


def _new_tokenizer() -> jieba.Tokenizer:
    """A private jieba tokenizer (never the global one, whose dictionary other
    code may change). The ~350k-word main dictionary is loaded once per process
    (from a cache file in a writable temp dir) and copied into each tokenizer,
    so reload() does not pay the load again."""
    global _base_dict
    with _base_lock:
        if _base_dict is None:
            base = jieba.Tokenizer()
            base.tmp_dir = tempfile.gettempdir()
            base.cache_file = f"dengji-jieba-{os.getuid() if hasattr(os, 'getuid') else 0}.cache"
            base.initialize()
            _base_dict = (base.FREQ, base.total)
    tk = jieba.Tokenizer()
    tk.tmp_dir = tempfile.gettempdir()
    tk.FREQ = dict(_base_dict[0])
    tk.total = _base_dict[1]
    tk.initialized = True
    return tk


def _load_userdict(tk: jieba.Tokenizer, lines: list[str]) -> set[str]:
    words = set()
    for line in lines:
        parts = line.split()
        word = parts[0]
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        tag = parts[2] if len(parts) > 2 else None
        word = normalize(word)
        tk.add_word(word, freq, tag)
        words.add(word)
    return words


# ──────────────────────────── the index ────────────────────────────


class _Index:
    """Immutable snapshot of everything loaded from one knowledge-base source.

    Bot swaps whole snapshots, so a reply is always computed against one
    consistent version of the data even while staff reload it."""

    def __init__(self, source: KbSource, facts: dict[str, Any] | None = None):
        # Replies by exact message text: people ask the same few questions over and over. It belongs to the
        # snapshot, so a reload starts with an empty one.
        self.answers: dict[str, BotReply] = {}
        self.facts = dict(facts or {})
        self.entries = [_render(e, self.facts) for e in parse_entries(list(source.entries))]
        self.by_id = {e.id: e for e in self.entries}
        files = source.files

        intents = _parse_yaml("intents.yaml", files.get("intents.yaml", "")) or {}
        self.settings: dict[str, Any] = intents.get("settings") or {}
        self.texts: dict[str, str] = {k: _fill(v, self.facts) for k, v in (intents.get("texts") or {}).items()}
        self.intents: dict[str, dict[str, Any]] = intents.get("intents") or {}
        # Further sections (e.g. feedback words) read by the chat layer, not by matching.
        self.sections: dict[str, Any] = {k: v for k, v in intents.items() if k not in ("settings", "texts", "intents")}
        for key in ("fallback", "welcome", "suggest_header", "suggest_item", "suggest_footer"):
            if not self.texts.get(key):
                raise DataError(f"intents.yaml: texts.{key} is required")
        self.answer_threshold = float(self.settings.get("answer_threshold", 0.55))
        self.suggest_threshold = float(self.settings.get("suggest_threshold", 0.25))
        self.suggest_count = int(self.settings.get("suggest_count", 3))
        self.receipt_re = re.compile(
            self.settings.get("receipt_pattern", r"(?<!\d)(\d{4})-?(\d{4})-?(\d{6})(?!\d)")
        )
        self.receipt_format = self.settings.get("receipt_format", "{0}-{1}-{2}")

        self.stopwords = {normalize(w) for w in _lines(files.get("stopwords.txt", ""))}
        self.weak = {normalize(w) for w in _lines(files.get("weakwords.txt", ""))}
        # Context words (今天, 明天): they say when, not what; they never anchor a question to an entry alone
        # ("今天限号吗" is not about booking today's slot).
        self.context = {normalize(str(w)) for w in self.settings.get("context_words") or []}
        self.aspects = {normalize(str(w)) for w in self.settings.get("aspect_words") or []}
        # Other words that ask the same side (登记费 and 工本费 ask 费用): word -> its aspect, and each aspect's words.
        self.aspect_of = {w: w for w in self.aspects}
        for aspect, alias in (self.settings.get("aspect_aliases") or {}).items():
            for w in alias or []:
                self.aspect_of[normalize(str(w))] = normalize(str(aspect))
        self.aspect_words: dict[str, set[str]] = {}
        for w, aspect in self.aspect_of.items():
            self.aspect_words.setdefault(aspect, set()).add(w)
        # Entries whose specific words name an event that befalls many things (遗失, 损坏, 邮寄): with a word the
        # knowledge base does not know in the question, they answer only when it also names their object.
        self.topic_words = {
            str(k): {normalize(str(w)) for w in v or []}
            for k, v in (self.settings.get("topic_words") or {}).items()
        }
        offtopic = sorted({_compact(w) for w in _lines(files.get("offtopic.txt", ""))} - {""}, key=len, reverse=True)
        self.offtopic_re = re.compile("|".join(map(re.escape, offtopic))) if offtopic else None
        self.tk = _new_tokenizer()
        user_words = _load_userdict(self.tk, _lines(files.get("userdict.txt", "")))
        keywords = {strip_punct(normalize(k)).replace(" ", "") for e in self.entries for k in e.keywords}
        # KB keywords are protected like the user dictionary: "补材料" stays the keyword of the correction entry
        # instead of becoming 补 + the aspect word 材料 that dozens of entries share.
        self._load_synonyms(_parse_yaml("synonyms.yaml", files.get("synonyms.yaml", "")),
                            protected=user_words | {k for k in keywords if len(k) > 2})
        # Canonical terms and KB keywords must come out of the segmenter as
        # single tokens, whatever the center adds to the data.
        for w in sorted(set(self.phrase_map.values()) | keywords):
            if len(w) > 1 and w not in self.tk.FREQ:
                self.tk.add_word(w)

        self._build_bm25()
        self._build_exact()
        del self._analyzed
        self._build_pinyin()
        self._build_intents()

    # ── synonyms ──
    def _load_synonyms(self, data: Any, protected: set[str]) -> None:
        data = data or {}
        if not isinstance(data, dict):
            raise DataError("synonyms.yaml: expected 'canonical: [variants]' mappings")
        # Domain words map to themselves so that, longest match first, a
        # domain word is consumed whole before a shorter synonym inside it
        # can fire ("抵押权首次登记" must not become "抵押" + "权首次登记").
        phrase_map: dict[str, str] = {w: w for w in protected if len(w) > 1}
        token_map: dict[str, str] = {}
        for canonical, variants in data.items():
            canon = normalize(str(canonical))
            phrase_map.setdefault(canon, canon)  # protect canonical terms
            for v in variants or []:
                v = normalize(str(v))
                # Single characters are only safe to replace as whole tokens
                # ("约" alone, but not inside "合约").
                if len(v) == 1:
                    token_map[v] = canon
                else:
                    phrase_map[v] = canon
        self.phrase_map = phrase_map
        self.token_map = token_map
        # Longest first so that canonical terms containing a variant
        # ("不动产权证书" ⊃ "产权证") are consumed before the variant.
        alts = sorted(phrase_map, key=len, reverse=True)
        self.phrase_re = re.compile("|".join(map(re.escape, alts))) if alts else None

    def _apply_phrases(self, text: str) -> str:
        if self.phrase_re is None:
            return text
        return self.phrase_re.sub(lambda m: f" {self.phrase_map[m.group(0)]} ", text)

    def analyze(self, text: str, *, normalized: bool = False) -> tuple[list[str], list[str]]:
        """Return (words, terms) for a text.

        words: precise segmentation (what the user actually said, used to
          judge how much of the question the knowledge base understands);
        terms: words plus their dictionary sub-words, as jieba's search mode
          does (used for BM25 recall, so "商品房" still meets
          "一手商品房转移登记").
        Both after normalisation, synonym mapping and stop-word removal."""
        if not normalized:
            text = normalize(text)
        text = _DAYS_RE.sub(" 几天 ", _CLOCK_RE.sub(" 几点 ", strip_punct(text)))
        text = _DAYS_AFTER_RE.sub("几天", text)
        text = self._apply_phrases(_TIMES_RE.sub(" 几次 ", text))
        freq = self.tk.FREQ
        words: list[str] = []
        terms: list[str] = []
        for tok in self.tk.cut(text):
            tok = tok.strip()
            if not tok:
                continue
            tok = self.token_map.get(tok, tok)
            if tok in self.stopwords:
                continue
            parts = self._split_unknown(tok)
            if parts is not None:  # "今天下午" → 今天, 下午: two words the entries know; "办个" → nothing
                words.extend(parts)
                terms.extend(parts)
                continue
            words.append(tok)
            n = len(tok)
            for k in (2, 3):
                if n > k:
                    for i in range(n - k + 1):
                        sub = tok[i : i + k]
                        if freq.get(sub) and sub not in self.stopwords:
                            terms.append(self.token_map.get(sub, sub))
            terms.append(tok)
        return words, terms

    def _split_unknown(self, tok: str) -> list[str] | None:
        """A word no entry has that is two words some entry has (stop-words dropped), else None."""
        vocab = getattr(self, "doc_vocab", None)
        if vocab is None or len(tok) < 2 or tok in vocab or tok in self.idf:
            return None
        for i in range(1, len(tok)):
            a, b = self.token_map.get(tok[:i], tok[:i]), self.token_map.get(tok[i:], tok[i:])
            if a in self.stopwords and b in self.stopwords:
                return []  # filler glued together ("办个", "的话吗")
            if len(tok) > 2 and all(p in vocab or p in self.stopwords for p in (a, b)):
                return [p for p in (a, b) if p not in self.stopwords]
            if len(tok) == 2 and b in self.stopwords and a in vocab:
                return [a]  # a word with a measure word or particle glued on ("改个", "查下")
        return None

    def terms(self, text: str, *, normalized: bool = False) -> list[str]:
        return self.analyze(text, normalized=normalized)[1]

    # ── BM25 ──
    def _build_bm25(self) -> None:
        docs: list[Counter[str]] = []
        answer_docs: list[Counter[str]] = []
        doc_words: list[frozenset[str]] = []
        self._analyzed: dict[str, tuple[list[str], list[str]]] = {}
        for e in self.entries:
            tokens: list[str] = []
            said: set[str] = set()
            for text in (e.question, *e.phrasings, *e.keywords):
                self._analyzed[text] = self.analyze(text)
                tokens.extend(self._analyzed[text][1])
                said.update(self._analyzed[text][0])
            doc_words.append(frozenset(said))
            docs.append(Counter(tokens))
            answer_docs.append(Counter(self.terms(e.answer)))
        n = len(docs)
        self.doc_len = [sum(d.values()) for d in docs]
        avgdl = sum(self.doc_len) / n
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d.keys())
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.oov_idf = math.log(1 + (n - 0.5) / 1.5)
        # Postings with the BM25 term weight precomputed: querying is then a
        # handful of dict lookups and additions per query term.
        self.postings: dict[str, list[tuple[int, float]]] = {}
        for i, d in enumerate(docs):
            norm = BM25_K1 * (1 - BM25_B + BM25_B * self.doc_len[i] / avgdl)
            for t, tf in d.items():
                w = self.idf[t] * tf * (BM25_K1 + 1) / (tf + norm)
                self.postings.setdefault(t, []).append((i, w))
        self.doc_terms = [frozenset(d) for d in docs]
        # Words an entry's wording only holds inside a longer word (住宅 in 非住宅): they cover a question less.
        self.doc_subwords = [self.doc_terms[i] - doc_words[i] for i in range(n)]
        self.doc_vocab = frozenset(df)
        # Fact level: the answer's words, as a second, weaker field (BM25 over answers of their own).
        adf: Counter[str] = Counter()
        for d in answer_docs:
            adf.update(d.keys())
        alen = [sum(d.values()) for d in answer_docs]
        aavg = sum(alen) / n
        for i, d in enumerate(answer_docs):
            norm = BM25_K1 * (1 - BM25_B + BM25_B * alen[i] / aavg)
            for t, tf in d.items():
                aidf = math.log(1 + (n - adf[t] + 0.5) / (adf[t] + 0.5))
                w = ANSWER_BM25_SHARE * aidf * tf * (BM25_K1 + 1) / (tf + norm)
                self.postings.setdefault(t, []).append((i, w))
        self.answer_terms = [frozenset(d) - self.doc_terms[i] for i, d in enumerate(answer_docs)]
        # Vocabulary known from answers only still counts as a domain word (not as unknown).
        for t, f in adf.items():
            if t not in self.idf:
                self.idf[t] = math.log(1 + (n - f + 0.5) / (f + 0.5))
        # Character bigrams of every word an entry knows, for words no entry has ("房产正" meets "房产").
        self.doc_bigrams = [frozenset(_bigrams(self.doc_terms[i] | self.answer_terms[i])) for i in range(n)]

    def _build_exact(self) -> None:
        """Map each listed question and phrasing, normalised, to its entry: equal questions are answered."""
        self.exact: dict[str, int] = {}
        by_words: dict[tuple[str, ...], set[int]] = {}
        for i, e in enumerate(self.entries):
            for text in (e.question, *e.phrasings):
                key = _compact(text)
                if key:
                    self.exact.setdefault(key, i)
                words = tuple(sorted(set((self._analyzed.get(text) or self.analyze(text))[0])))
                if words:
                    by_words.setdefault(words, set()).add(i)
        # The same words after synonyms and stop-words, in any order ("登记费多少钱" = "登记费要多少钱？",
        # "过户要多久" = "多久能过户"), when only one entry lists them.
        self.exact_words = {k: next(iter(v)) for k, v in by_words.items() if len(v) == 1}

    def _build_pinyin(self) -> None:
        """Toneless pinyin of every known word and synonym: a homophone typo ("抵压", "过护") finds its word."""
        seen: dict[str, str | None] = {}
        # The entries' own wording and the synonyms (not every word of the answers: start-up time).
        for word, canon in [(t, self.phrase_map.get(t, t)) for t in self.doc_vocab] + list(self.phrase_map.items()):
            if len(word) < 2 or not _CJK_ONLY.fullmatch(word):
                continue
            key = _pinyin(word)
            if seen.get(key, canon) != canon:
                seen[key] = None  # two different words sound alike: correct to neither
            else:
                seen[key] = canon
        self.pinyin = {k: v for k, v in seen.items() if v}

    def correct(self, words: list[str]) -> dict[str, str]:
        """Replacements for unknown words that sound like a known word (whole, or with a neighbour)."""
        fixes: dict[str, str] = {}
        for i, w in enumerate(words):
            if w in self.idf or not _CJK_ONLY.fullmatch(w):
                continue
            spans = [w]
            if i + 1 < len(words):
                spans.append(w + words[i + 1])
            if i > 0:
                spans.append(words[i - 1] + w)
            for span in spans:
                # A common word of the language (一首, as in "写一首诗") is what was meant, not a typo of 一手.
                if not _CJK_ONLY.fullmatch(span) or len(span) > 6 or self.tk.FREQ.get(span, 0) >= COMMON_WORD_FREQ:
                    continue
                hit = self.pinyin.get(_pinyin(span))
                if hit and hit != span:
                    fixes[span] = hit
                    break
        return fixes

    def weight(self, word: str) -> float:
        """Information weight of a query word for the coverage measure."""
        # A word that is in no entry is treated as maximally specific: it is
        # exactly the kind of word (天气, 社保) that shows the question is
        # about something the knowledge base does not cover.
        w = self.idf.get(word, self.oov_idf)
        # Single characters (交, 收, 诗, a stray typo) are weak evidence either
        # way, so they count half; weak words (附近, 在哪) cannot carry a question.
        if len(word) == 1:
            return w * 0.5
        return w * WEAK_WORD_FACTOR if word in self.weak else w

    # ── intents ──
    def _build_intents(self) -> None:
        def norm_list(xs: Any) -> list[str]:
            return sorted(
                {strip_punct(normalize(str(x))).replace(" ", "") for x in xs or []} - {""},
                key=len,
                reverse=True,
            )

        def any_of(xs: list[str]) -> re.Pattern[str] | None:
            # One alternation per list: a single regex scan instead of one substring test per trigger.
            return re.compile("|".join(map(re.escape, xs))) if xs else None

        self.intent_rules: dict[str, dict[str, Any]] = {}
        for name, spec in self.intents.items():
            spec = spec or {}
            strong, weak = norm_list(spec.get("strong")), norm_list(spec.get("weak"))
            self.intent_rules[name] = {
                "strong": strong,
                "strong_re": any_of(strong),
                "weak_re": any_of(weak),
                "weak": weak,
                "exact": set(norm_list(spec.get("exact"))),
                "ignorable": set(self.terms(" ".join(map(str, spec.get("ignorable") or [])))),
                "spec": {**spec, "reply": _fill(spec["reply"], self.facts)} if spec.get("reply") else spec,
            }


_CJK_ONLY = re.compile(r"[\u4e00-\u9fff]+")
# A time of day ("四点半", "5点", "十一点"): the entries speak of 几点, not of every hour. A bare 一点 is left alone
# ("快一点"). Likewise a number of days ("三天", "15个工作日"): the entries speak of 几天 / 多久.
_CLOCK_RE = re.compile(r"(?:\d{1,2}|十[一二]|[两二三四五六七八九十])点(?:半|钟|\d{1,2}分?|[一二三四五]十[五]?分?)?")
_TIMES_RE = re.compile(r"(?:\d{1,2}|[两二三四五六七八九十])次")  # "约两次" asks how many times: 几次
_DAYS_RE = re.compile(r"(?<![另换同每哪那这])(?:\d{1,3}|[一二两三四五六七八九十]{1,3})个?(?:工作日|天)(?![后以之])")
# "8天后", "两周以后": how far ahead; the entries speak of 几天后 / 几天以后 (the 后 stays for the synonyms).
_DAYS_AFTER_RE = re.compile(r"(?:\d{1,3}|[一二两三四五六七八九十]{1,3})个?(?:天|星期|礼拜|周)(?=[后以之])")


@lru_cache(maxsize=65536)
def _pinyin(word: str) -> str:
    """Toneless pinyin of a word, syllables separated by spaces (cached: people reuse their words)."""
    return " ".join(lazy_pinyin(word))
_FIELD_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _bigrams(words: Any) -> set[str]:
    return {w[i : i + 2] for w in words if len(w) > 2 for i in range(len(w) - 1)} | {w for w in words if len(w) == 2}


def _compact(text: str) -> str:
    return strip_punct(normalize(text or "")).replace(" ", "")


def _fill(text: str, facts: dict[str, Any]) -> str:
    """Put the catalog's current figures into a text ({window_days} → 7); unknown fields stay as written."""
    if "{" not in text:
        return text
    return _FIELD_RE.sub(lambda m: str(facts[m.group(1)]) if m.group(1) in facts else m.group(0), text)


def _render(e: Entry, facts: dict[str, Any]) -> Entry:
    answer = _fill(e.answer, facts)
    return e if answer == e.answer else Entry(e.id, e.category, e.question, e.phrasings, e.keywords, answer)


# ──────────────────────────── the bot ────────────────────────────


class Bot:
    """Build once per process; answer() is thread-safe and does no I/O.

    The knowledge base comes from a data directory (default: the shipped bot/data) or, in the service, from
    a `KbSource` read out of the database; `facts` are the catalog's current figures that answers quote
    through {placeholders} (window_days, release_time, fees, hours…)."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, *, source: KbSource | None = None,
                 facts: dict[str, Any] | None = None):
        self.data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
        self._reload_lock = threading.Lock()
        self._source = source
        self._facts = dict(facts) if facts is not None else load_facts()
        self._index = _Index(source or KbSource.from_dir(self.data_dir), self._facts)

    def reload(self, source: KbSource | None = None, *, facts: dict[str, Any] | None = None) -> None:
        """Rebuild from a new source (or re-read the data directory) and/or new facts. The new index is fully
        built before it replaces the old one; if the data is broken, DataError is raised and the bot keeps
        answering from the previous version."""
        with self._reload_lock:
            source = source or self._source
            new = _Index(source or KbSource.from_dir(self.data_dir), facts if facts is not None else self._facts)
            self._source = source
            self._facts = new.facts
            self._index = new  # single reference swap: atomic for readers

    @property
    def facts(self) -> dict[str, Any]:
        return dict(self._facts)

    @property
    def entries(self) -> list[Entry]:
        return list(self._index.entries)

    def text(self, key: str, default: str = "") -> str:
        """Return a reply text from intents.yaml `texts` (the default when absent)."""
        return self._index.texts.get(key) or default

    def section(self, name: str) -> Any:
        """Return an extra top-level section of intents.yaml (None when absent)."""
        return self._index.sections.get(name)

    def intent_reply(self, name: str) -> BotReply:
        """Return an intent's canned reply, as if the user had asked for it."""
        idx = self._index
        rule = idx.intent_rules.get(name)
        if rule is None:
            return BotReply(kind="fallback", text=idx.texts["fallback"])
        spec = rule["spec"]
        reply = spec.get("reply") or idx.texts.get(spec.get("reply_text", ""), "")
        return BotReply(kind="intent", text=reply, intent=name, score=1.0)

    def pick(self, entry_id: str) -> BotReply:
        idx = self._index
        e = idx.by_id.get(entry_id)
        if e is None:
            return BotReply(kind="fallback", text=idx.texts["fallback"])
        return BotReply(kind="answer", text=e.answer, entry_id=e.id, score=1.0)

    def answer(self, text: str) -> BotReply:
        return copy.copy(self.shared_answer(text))  # a copy: callers may fill in details (a case's live status)

    def shared_answer(self, text: str) -> BotReply:
        """The reply to a message, shared with every caller asking the same text: do not modify it."""
        idx = self._index  # read once: a concurrent reload cannot mix versions
        known = idx.answers.get(text)
        if known is None:
            known = self._answer(idx, text)
            if len(idx.answers) >= ANSWER_CACHE_SIZE:
                idx.answers.clear()
            idx.answers[text] = known
        return known

    def _answer(self, idx: _Index, text: str) -> BotReply:
        norm = normalize(text or "")
        compact = strip_punct(norm).replace(" ", "")
        if not compact:
            return BotReply(kind="fallback", text=idx.texts["fallback"])

        m = idx.receipt_re.search(norm)
        if m:
            receipt = idx.receipt_format.format(*m.groups())
            spec = idx.intent_rules.get("progress", {}).get("spec", {})
            tmpl = spec.get("reply_with_receipt") or "{receipt_no}"
            return BotReply(
                kind="intent",
                text=tmpl.format(receipt_no=receipt),
                intent="progress",
                receipt_no=receipt,
                score=1.0,
            )

        # Personal data pasted into a question ("… 我是李四 <ID>") says nothing about what is asked.
        stripped = strip_personal(norm)
        if stripped is not norm:
            norm = stripped
            compact = strip_punct(norm).replace(" ", "")
            if not compact:
                return BotReply(kind="fallback", text=idx.texts["fallback"])

        intent = self._match_intent(idx, compact)
        if intent is not None:
            spec = idx.intent_rules[intent]["spec"]
            reply = spec.get("reply") or idx.texts.get(spec.get("reply_text", ""), "")
            return BotReply(kind="intent", text=reply, intent=intent, score=1.0)

        # A question listed in the knowledge base (or one that says the same words) is answered directly.
        found = idx.exact.get(compact)
        words, terms = idx.analyze(norm, normalized=True)
        if found is None:
            found = idx.exact_words.get(tuple(sorted(set(words))))
        if found is not None:
            e = idx.entries[found]
            return BotReply(kind="answer", text=e.answer, entry_id=e.id, score=1.0,
                            candidates=[(e.id, e.question, 1.0)])
        if idx.offtopic_re is not None and idx.offtopic_re.search(compact):
            # About something the center does not handle (天气, 房价, 停车…), whatever domain words come with it.
            return BotReply(kind="fallback", text=idx.texts["fallback"])
        return self._retrieve(idx, norm, words, terms)

    # ── internals ──
    @staticmethod
    def _match_intent(idx: _Index, compact: str) -> str | None:
        # Greetings only when the whole message is a greeting: "你好，过户要带什么"
        # is a question.
        for name, rule in idx.intent_rules.items():
            if compact in rule["exact"]:
                return name
        for name, rule in idx.intent_rules.items():
            if rule["strong_re"] is not None and rule["strong_re"].search(compact):
                return name
        # Weak triggers ("怎么预约") are action requests only if nothing more
        # specific is asked: "企业怎么预约" / "周六怎么预约" go to the FAQ.
        for name, rule in idx.intent_rules.items():
            if rule["weak_re"] is None or not rule["weak_re"].search(compact):
                continue
            hits = [t for t in rule["weak"] if t in compact]
            if not hits:
                continue
            rest = compact
            for t in hits:
                rest = rest.replace(t, " ")
            leftover = [
                t for t in idx.terms(rest, normalized=True) if t not in rule["ignorable"] and t in idx.idf
            ]
            # "怎么挂号看病": the trigger word, but about something off-topic: not a request to book with us.
            if not leftover and not (idx.offtopic_re is not None and idx.offtopic_re.search(rest)):
                return name
        return None

    @staticmethod
    def _retrieve(idx: _Index, norm: str, words: list[str], terms: list[str]) -> BotReply:
        fixes = idx.correct(words)
        if fixes:  # a homophone typo: read the question again with the word it sounds like
            fixed = strip_punct(norm)
            for wrong, right in fixes.items():
                fixed = fixed.replace(wrong, f" {right} ")
            words, terms = idx.analyze(fixed, normalized=True)
        scores: dict[int, float] = {}
        said = set(words)
        for t in set(terms):
            share = 1.0 if t in said else SUBWORD_BM25_SHARE
            for doc, w in idx.postings.get(t, ()):
                scores[doc] = scores.get(doc, 0.0) + w * share
        fallback = BotReply(kind="fallback", text=idx.texts["fallback"])
        if not scores:
            return fallback

        # Confidence design. Raw BM25 is unbounded and not comparable between
        # queries, so it cannot be thresholded directly. Instead:
        # coverage(d): share of the question's information (IDF-weighted
        #   words) that entry d contains: fully in its question, phrasings or
        #   keywords, partly in its answer (fact level) or by character bigrams
        #   (a word no entry has). A question about something else (天气, 社保,
        #   车辆) keeps its unknown word uncovered and falls back whatever BM25
        #   says; weak words (附近, 在哪) weigh little, so they cannot carry it.
        # rank(d) = coverage mostly, BM25/BM25_max as a tie-breaker.
        # confidence = coverage(best) × separation; separation grows from
        #   SEP_BASE to 1 with the lead over the runner-up, so a question that
        #   fits several entries equally ("材料", "登记费") is offered as choices.
        words = list(dict.fromkeys(words))
        weights = [(w, idx.weight(w), w in idx.idf) for w in words]
        # Anchors are needed when the question names something the entries' own wording lacks (a word no
        # question, phrasing or keyword has): then that thing decides, unless a specific word meets it.
        foreign = any(len(w) > 1 and w not in idx.doc_vocab and w not in idx.weak for w in words)
        s_max = max(scores.values())
        shortlist = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
        ranked = []
        for doc, s in shortlist:
            dt = idx.doc_terms[doc]
            at = idx.answer_terms[doc]
            anchored = not foreign or any(_anchors(idx, w, dt) for w in words)
            covered = missed = 0.0
            sub = idx.doc_subwords[doc]
            for w, wt, known in weights:
                if w in sub:
                    covered += wt * SUBWORD_COVER_CREDIT
                    missed += wt * (1 - SUBWORD_COVER_CREDIT)
                elif w in dt:
                    covered += wt
                elif w in at and anchored:
                    credit = HOMED_ANSWER_CREDIT if w in idx.doc_vocab else ANSWER_COVER_CREDIT
                    covered += wt * credit
                    missed += wt * (1 - credit)
                elif not known and len(w) > 1 and _bigram_share(w, idx.doc_bigrams[doc]) >= 0.5:
                    covered += wt * BIGRAM_CREDIT
                    missed += wt * (1 - BIGRAM_CREDIT)
                else:
                    # Missed known words lower coverage at part of their weight: long,
                    # wordy questions carry words an entry lacks ("我家", "父亲")
                    # without being about something else.
                    missed += wt * (KNOWN_MISS_FACTOR if known else OOV_MISS_FACTOR)
            cov = covered / (covered + missed) if covered and anchored else 0.0
            ranked.append(((1 - RANK_BM25_SHARE) * cov + RANK_BM25_SHARE * s / s_max, cov, doc))
        ranked.sort(key=lambda r: (-r[0], r[2]))
        asked = list(dict.fromkeys(idx.aspect_of[w] for w in words if w in idx.aspect_of))
        if ASPECT_PENALTY and asked and len(ranked) > 1:
            n = int(ASPECT_TOP)
            # The words that tie the question to the best entry (补正 of "补正完多久能办好") count like aspects
            # unless the candidate's answer has them: one that speaks of 多久 but never of 补正 is no sibling.
            tied = [w for w in words if w not in idx.aspect_of and _anchors(idx, w, idx.doc_terms[ranked[0][2]])]
            head = []
            for r, c, d in ranked[:n]:
                dt, at = idx.doc_terms[d], idx.answer_terms[d]
                lacks = _lacks(idx, asked, dt) + sum(w not in dt and w not in at for w in tied)
                head.append((r - ASPECT_PENALTY * lacks if c else r, c, d))
            ranked = sorted(head, key=lambda r: (-r[0], r[2])) + ranked[n:]
            # Fact level: among the best entry's siblings (its category), the one that speaks of the side asked
            # answers ("过户卖方要带什么" is resale's materials entry, whatever 卖方 weighs in its fee entry).
            first = idx.entries[ranked[0][2]]
            missing = _lacks(idx, asked, idx.doc_terms[ranked[0][2]])
            if missing:
                for k, (r, c, d) in enumerate(ranked[1:SIBLING_TOP], 1):
                    if (c >= SIBLING_COVER * ranked[0][1] and idx.entries[d].category == first.category
                            and _lacks(idx, asked, idx.doc_terms[d]) < missing):
                        # It takes the best entry's place and rank: its lead is that entry's lead.
                        r0, c0, d0 = ranked[0]
                        ranked[0], ranked[k] = (r0, c, d), (r, c0, d0)
                        break
        r1, cov1, top = ranked[0]
        r2, cov2, _ = ranked[1] if len(ranked) > 1 else (0.0, 0.0, -1)
        # Separated if the best entry leads on either signal: by rank margin
        # (e.g. the hall FAQ vs. halls merely mentioning 周六) or by coverage
        # (e.g. 材料 vs. 费用 siblings, whose BM25 barely differs).
        lead = max((r1 - r2) / r1 * SEP_GAIN_RANK, (cov1 - cov2) * SEP_GAIN_COV)
        conf = cov1 * (SEP_BASE + (1 - SEP_BASE) * min(1.0, max(0.0, lead)))
        conf = round(max(0.0, min(1.0, conf)), 4)

        cands = [
            (idx.entries[d].id, idx.entries[d].question, round(conf * r / r1, 4))
            for r, _, d in ranked[: idx.suggest_count]
            if conf > 0
        ]
        # Only aspect words (材料, 费用, 怎么办) fit many entries alike: offer choices, never one answer.
        specific = any(_anchors(idx, w, idx.doc_terms[top]) for w in words)
        met = [w for w in words if w in idx.doc_terms[top] or w in idx.answer_terms[top]]
        if met and all(w in idx.context for w in met):
            # All it shares with the best entry is when (今天) or 房子: "今天冷吗" asks about something else.
            fallback.score = conf
            return fallback
        need = idx.topic_words.get(idx.entries[top].id)
        if need and foreign and not any(w in need for w in words):
            # "门禁卡坏了去哪补": 损坏 and 补发 are the lost-certificate entry's words, but what broke is no
            # certificate.
            fallback.score = conf
            return fallback
        near = [w for w in words if w in idx.weak]
        if near and not any(w in idx.doc_terms[top] for w in near):
            # "附近有银行吗" asks about the surroundings; only an entry that speaks of them may answer.
            fallback.score = conf
            return fallback
        if conf >= idx.answer_threshold and (specific or conf >= UNANCHORED_ANSWER):
            e = idx.entries[top]
            return BotReply(kind="answer", text=e.answer, entry_id=e.id, score=conf, candidates=cands)
        if conf >= idx.suggest_threshold:
            lines = [idx.texts["suggest_header"]]
            for n, (_, question, _) in enumerate(cands, 1):
                lines.append(idx.texts["suggest_item"].format(n=n, question=question))
            lines.append(idx.texts["suggest_footer"])
            return BotReply(kind="suggest", text="\n".join(lines), score=conf, candidates=cands)
        fallback.score = conf
        fallback.candidates = cands
        return fallback


def _lacks(idx: _Index, asked: list[str], doc_terms: frozenset[str]) -> int:
    """How many of the asked aspects an entry's own wording says nothing of (by any of the aspect's words)."""
    return sum(not (idx.aspect_words[a] & doc_terms) for a in asked)


def _anchors(idx: _Index, word: str, doc_terms: frozenset[str]) -> bool:
    """A word that ties a question to this entry: its own, not weak, few entries share it. A single character
    (帮, 写, 多) is never one: it is too often a piece of some other word."""
    return (len(word) > 1 and word in doc_terms and word not in idx.weak and word not in idx.context
            and idx.idf[word] >= ANCHOR_IDF)


def _bigram_share(word: str, bigrams: frozenset[str]) -> float:
    grams = [word[i : i + 2] for i in range(len(word) - 1)]
    return sum(g in bigrams for g in grams) / len(grams)
