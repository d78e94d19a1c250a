"""textstats: word, sentence and vocabulary statistics of a text, written in Python with the
Harmonia Python SDK (sdk/python). Build it with `bash plugins/build.sh textstats`."""

import re
from collections import Counter

from harmonia import Plugin, TaskError, action, field

# Words, with inner apostrophes ("don't", "l'eau"); digits count, underscores do not.
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SENTENCE_END = re.compile(r"[.!?…]+")
WORDS_PER_MINUTE = 200

STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves
    """.split()
)

TEXT_SCHEMA = {"type": "string", "description": "The text to analyse"}


def words_of(text):
    """The words of a text, one at a time (no list: a long text stays cheap in memory)."""
    return (m.group() for m in WORD.finditer(text))


def sentence_count(text):
    # A stretch between sentence ends counts when it holds a word; text without a final
    # full stop is still one sentence.
    count, start = 0, 0
    for end in SENTENCE_END.finditer(text):
        if WORD.search(text, start, end.start()):
            count += 1
        start = end.end()
    return count + (1 if WORD.search(text, start) else 0)


def ranked(counts, n):
    """The n most frequent entries, ties by word."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def is_content(word):
    return word not in STOP_WORDS and not word.isdigit()


def count_arg(input, name, default):
    value = field(input, name, int, default=default)
    if value < 0:
        raise TaskError.invalid_input(
            f"field `{name}` must be 0 or more, not {value}",
            code="out-of-range",
            details={"field": name, "minimum": 0, "got": value},
        )
    return value


class TextStats(Plugin):
    name = "textstats"
    version = "0.1.0"
    description = "Word, sentence and vocabulary statistics of a text (a Python plugin)"

    @action(
        "Counts words, sentences and characters, and finds the most frequent words",
        input_schema={
            "type": "object",
            "required": ["text"],
            "properties": {"text": TEXT_SCHEMA, "top": {"type": "integer", "minimum": 0, "default": 5}},
        },
        output_schema={
            "type": "object",
            "properties": {
                "words": {"type": "integer"},
                "sentences": {"type": "integer"},
                "characters": {"type": "integer"},
                "avg_word_length": {"type": "number"},
                "lexical_diversity": {"type": "number"},
                "reading_minutes": {"type": "number"},
                "top_words": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"word": {"type": "string"}, "count": {"type": "integer"}}},
                },
            },
        },
    )
    def analyze(self, input, ctx):
        text = field(input, "text", str)
        top = count_arg(input, "top", 5)
        total = letters = 0
        distinct = set()
        counts = Counter()
        for word in words_of(text):
            total += 1
            letters += len(word)
            word = word.lower()
            distinct.add(word)
            if is_content(word):
                counts[word] += 1
        sentences = sentence_count(text)
        result = {
            "words": total,
            "sentences": sentences,
            "characters": len(text),
            "avg_word_length": round(letters / total, 2) if total else 0.0,
            "lexical_diversity": round(len(distinct) / total, 3) if total else 0.0,
            "reading_minutes": round(total / WORDS_PER_MINUTE, 2),
            "top_words": [{"word": w, "count": c} for w, c in ranked(counts, top)],
        }
        ctx.info(f"analyze: {total} words, {sentences} sentences, {len(text)} characters")
        return result

    @action(
        "The n most frequent content words (3 letters or more, stop words left out)",
        input_schema={
            "type": "object",
            "required": ["text"],
            "properties": {"text": TEXT_SCHEMA, "n": {"type": "integer", "minimum": 0, "default": 5}},
        },
        output_schema={"type": "object", "properties": {"keywords": {"type": "array", "items": {"type": "string"}}}},
    )
    def keywords(self, input, ctx):
        text = field(input, "text", str)
        n = count_arg(input, "n", 5)
        counts = Counter(w for w in map(str.lower, words_of(text)) if len(w) >= 3 and is_content(w))
        keywords = [w for w, _ in ranked(counts, n)]
        ctx.info(f"keywords: {len(keywords)} of {len(counts)} distinct content words")
        return {"keywords": keywords}

    # A corpus lives in the plugin's key-value space: every call runs in a fresh instance,
    # so counts that span documents must be stored by the host.

    @action(
        "Adds a text's word counts to a named corpus kept across calls (key-value store)",
        input_schema={
            "type": "object",
            "required": ["text"],
            "properties": {"text": TEXT_SCHEMA, "corpus": {"type": "string", "default": "default"}},
        },
    )
    def corpus_add(self, input, ctx):
        text = field(input, "text", str)
        name = field(input, "corpus", str, default="default")
        key = f"corpus/{name}"
        corpus = ctx.kv_get_json(key, {"documents": 0, "words": 0, "counts": {}})
        counts = Counter(corpus["counts"])
        total = 0
        for word in words_of(text):
            total += 1
            word = word.lower()
            if is_content(word):
                counts[word] += 1
        corpus = {"documents": corpus["documents"] + 1, "words": corpus["words"] + total, "counts": counts}
        ctx.kv_set_json(key, corpus)
        ctx.emit_event("textstats.corpus_updated", {"corpus": name, "documents": corpus["documents"]})
        ctx.info(f"corpus_add: {name} now has {corpus['documents']} documents")
        return {"corpus": name, "documents": corpus["documents"], "words": corpus["words"]}

    @action(
        "The size and most frequent words of a named corpus",
        input_schema={
            "type": "object",
            "properties": {"corpus": {"type": "string", "default": "default"}, "top": {"type": "integer", "default": 5}},
        },
    )
    def corpus_stats(self, input, ctx):
        name = field(input, "corpus", str, default="default")
        top = count_arg(input, "top", 5)
        corpus = ctx.kv_get_json(f"corpus/{name}")
        if corpus is None:
            raise TaskError.invalid_input(
                f"no corpus `{name}`: add texts to it with corpus_add first",
                code="unknown-corpus",
                details={"corpus": name},
            )
        ctx.info(f"corpus_stats: {name}")
        return {
            "corpus": name,
            "documents": corpus["documents"],
            "words": corpus["words"],
            "top_words": [{"word": w, "count": c} for w, c in ranked(corpus["counts"], top)],
        }

    @action("Forgets a named corpus", input_schema={"type": "object", "properties": {"corpus": {"type": "string"}}})
    def corpus_reset(self, input, ctx):
        name = field(input, "corpus", str, default="default")
        ctx.kv_delete(f"corpus/{name}")
        ctx.info(f"corpus_reset: {name}")
        return {"corpus": name}
