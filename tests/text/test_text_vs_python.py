# File: tests/text/test_text_vs_python.py
# engine/text against Python, through ovid-text-cli:
#   - the cleaning against the original's rules with ftfy cut down to the fixes ovid reproduces
#     (html.unescape twice, str.strip, regex's \s+ -> ' ', strip; ftfy's own
#     remove_terminal_escapes, fix_c1_controls, uncurl_quotes and remove_control_chars): the
#     prompts listed in KNOWN_SAME are ones the rest of ftfy.fix_text leaves as they are (already
#     NFC, no mojibake) -- for those the original's cleaning and this reference agree, and so
#     must ovid;
#   - every HTML5 entity name and numeric references over the whole code point range;
#   - the audio-tag formatters against Ovi's own re.sub calls;
#   - token ids against the Python `sentencepiece` package on a unigram model trained here
#     (umt5's special ids and nmt_nfkc), and against transformers' T5TokenizerFast made from the
#     same model, called exactly as the original calls it (padding/truncation at 512).
import html
import json
import os
import pathlib
import random
import re
import subprocess
import sys

import pytest
import regex
import sentencepiece as spm

ROOT = pathlib.Path(os.environ.get("OVID_ROOT", pathlib.Path(__file__).resolve().parents[2]))
CLI = pathlib.Path(os.environ.get("OVID_BIN", ROOT / "build" / "bin")) / "ovid-text-cli"
MAX_LENGTH = 512


def cli(mode, strings, *flags):
    proc = subprocess.run([str(CLI), mode, *flags], input=json.dumps(strings), text=True,
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out) == len(strings)
    return out


# ---- the original's rules, in Python ---------------------------------------------------------

def uncurl(text):
    text = re.sub("[\u02bc\u2018-\u201b]", "'", text)
    return re.sub("[\u201c-\u201f]", '"', text)


def ftfy_subset(text):
    """The ftfy.fix_text steps ovid reproduces, ftfy's own functions in fix_text's order."""
    from ftfy import fixes
    text = fixes.remove_terminal_escapes(text)
    text = fixes.fix_c1_controls(text)
    return fixes.remove_control_chars(uncurl(text))


def clean_ref(text):
    """Wan's HuggingfaceTokenizer(clean='whitespace') with ftfy.fix_text cut down to the
    terminal escapes, C1 controls, curly quotes and control characters."""
    text = html.unescape(html.unescape(ftfy_subset(text))).strip()
    return regex.sub(r"\s+", " ", text).strip()


def rewrite_ref(text, variant):
    """Ovi's NAME_TO_MODEL_SPECS_MAP formatters (128x128_5s is ovid's, styled as 720x720_5s)."""
    if variant in ("720x720_5s", "128x128_5s"):
        return re.sub(r"Audio:\s*(.*)", r"<AUDCAP>\1<ENDAUDCAP>", text, flags=re.S)
    return re.sub(r"<AUDCAP>(.*?)<ENDAUDCAP>", r"Audio: \1", text, flags=re.S)


def encode_ref(sp, text, max_length=MAX_LENGTH):
    ids = sp.encode(text)
    return ids[:max_length - 1] + [sp.eos_id()], len(ids)


# ---- cleaning -----------------------------------------------------------------------------------

KNOWN_SAME = [
    # ordinary text
    "A golden retriever runs across a sunlit park, chasing a red ball.",
    "  Two people talk   in a quiet café at night.\n\nThe camera slowly pans left.  ",
    "Close-up of hands (typing) on a keyboard; 4K, 24 fps - cinematic!",
    # Ovi's tags
    "<S>Welcome to the show, everyone!<E> A host waves. <AUDCAP>applause, upbeat music<ENDAUDCAP>",
    "A man says <S>It's raining again.<E> Audio: rain on a window, distant thunder",
    # unicode letters and emoji
    "Señora Núñez sonríe; crème brûlée à la française; Zürich, Øresund, Łódź",
    "東京の夜、ネオンが光る。城市的夜晚。서울의 밤거리 🌃 🎵 😀 👍🏽 👨‍👩‍👧",
    "Ελληνικά, русский текст, עברית, العربية, हिन्दी",
    # HTML entities (the original unescapes these twice)
    "Tom &amp; Jerry &lt;3 &quot;quoted&quot; &#39;single&#39; &eacute;t&eacute; &#x1F600;",
    "doubly escaped: &amp;lt;S&amp;gt;hi&amp;lt;E&amp;gt; and &amp;amp;amp; stays &amp;amp;",
    "&nbsp;padded&nbsp;&nbsp;text&nbsp;",
    "",
    "   ",
]

CURLY = ["\u201cHello,\u201d she said. \u2018Fine\u2019 \u201e\u201f\u201a\u201b",
         "<S>\u201cWe\u2019re late!\u201d<E> Audio: footsteps"]


def test_known_prompts_clean_as_the_original():
    prompts = KNOWN_SAME + CURLY
    got = cli("clean", prompts)
    assert [g["text"] for g in got] == [clean_ref(p) for p in prompts]


def test_every_named_entity():
    names = sorted(html.entities.html5)
    prompts = ["&" + n for n in names] + ["x&%sy z" % n for n in names]
    got = cli("clean", prompts)
    mismatches = [(p, g, clean_ref(p)) for p, g in zip(prompts, got) if g["text"] != clean_ref(p)]
    assert not mismatches[:10]


def test_numeric_references_over_the_code_point_range():
    nums = list(range(0, 0x3000)) + list(range(0xD7F0, 0xE010)) + list(range(0xFDC0, 0x10000))
    nums += [0x1FFFE, 0x1FFFF, 0x1F600, 0x10FFFD, 0x10FFFE, 0x10FFFF, 0x110000, 10**30]
    prompts = []
    for n in nums:
        prompts += ["a&#%d;b" % n, "a&#x%X b" % n, "&#X%x" % n]
    got = cli("clean", prompts)
    mismatches = [(p, g, clean_ref(p)) for p, g in zip(prompts, got) if g["text"] != clean_ref(p)]
    assert not mismatches[:10]


def test_whitespace_of_both_rules():
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace() or regex.match(r"\s", chr(c))]
    prompts = []
    for s in spaces:
        prompts += [s + "a" + s + s + "b" + s, "a" + s + "b", s]
    got = cli("clean", prompts)
    assert [g["text"] for g in got] == [clean_ref(p) for p in prompts]


def test_random_entity_soup():
    rng = random.Random(6)
    pieces = ["&", "#", ";", "x", "X", "amp", "lt", "not", "in", "0", "9", "1", "2", "f", "F",
              " ", "\t", "\n", "\r", "\v", "\f", "\x85", "<", "é", "東", "😀", "\u2019", "&amp;",
              "&#", "&#x", "\u3000", "a", "&not", "&copy"]
    prompts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    got = cli("clean", prompts)
    mismatches = [(p, g, clean_ref(p)) for p, g in zip(prompts, got) if g["text"] != clean_ref(p)]
    assert not mismatches[:10]


def test_committed_entity_table_is_current(tmp_path):
    out = tmp_path / "html_entities.inc"
    subprocess.run([sys.executable, str(ROOT / "engine/text/gen_html_entities.py"), str(out)],
                   check=True)
    assert out.read_text() == (ROOT / "engine/text/html_entities.inc").read_text()


# ---- audio tags ---------------------------------------------------------------------------------

TAG_PROMPTS = [
    "A cat. <S>Hi!<E> Audio: rain falls",
    "A cat. <S>Hi!<E> <AUDCAP>rain falls<ENDAUDCAP>",
    "x Audio:\n  rain\nAudio: more",
    "<AUDCAP>a\nb<ENDAUDCAP> x <AUDCAP>c<ENDAUDCAP>!",
    "<AUDCAP><AUDCAP>a<ENDAUDCAP><ENDAUDCAP>",
    "<AUDCAP>open", "x <ENDAUDCAP> y", "Audio:", "Audio:\u3000\x1cwind", "audio: lower", "",
    "<S>Ça va?<E> 東京 😀 Audio: 雨の音",
]


@pytest.mark.parametrize("variant", ["720x720_5s", "960x960_5s", "960x960_10s", "128x128_5s"])
def test_rewrite_matches_ovi_formatters(variant):
    got = cli("rewrite", TAG_PROMPTS, "--variant=" + variant)
    assert [g["text"] for g in got] == [rewrite_ref(p, variant) for p in TAG_PROMPTS]


def test_unknown_variant_is_reported():
    got = cli("rewrite", ["x"], "--variant=1080x1080_5s")
    assert got[0]["code"] == "INVALID_ARGUMENT"
    assert "1080x1080_5s" in got[0]["error"]


# ---- tokenization -------------------------------------------------------------------------------

def corpus_lines():
    """A deterministic corpus with the tags, accents, CJK and emoji the prompts use."""
    rng = random.Random(0)
    words = ("a the dog cat runs walks park street sun rain night music voice says hello world "
             "quiet slowly camera pans left right close up people talk laugh waves thunder "
             "café crème brûlée señor naïve façade Zürich Łódź 東京 夜景 城市 音乐 雨 서울 "
             "😀 🎵 🌃 👍 русский Ελληνικά").split()
    # Made-up words from syllables, so the unigram model has multi-piece words to segment.
    syllables = "ka to ri se mu na lo pe chi zu an el or ing ter bra ske".split()
    words += ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(300)]
    tags = ["<S>", "<E>", "<AUDCAP>", "<ENDAUDCAP>", "Audio:"]
    for _ in range(3000):
        line = [rng.choice(words) for _ in range(rng.randint(3, 14))]
        if rng.random() < 0.5:
            line.insert(rng.randrange(len(line)), rng.choice(tags))
        yield " ".join(line)
    # The test prompts' own characters, so that only the deliberately unseen ones are <unk>.
    for prompt in KNOWN_SAME + CURLY + TAG_PROMPTS:
        for _ in range(3):
            yield clean_ref(prompt)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "spiece.model"
    with open(path, "wb") as f:
        spm.SentencePieceTrainer.train(
            sentence_iterator=corpus_lines(), model_writer=f, model_type="unigram",
            vocab_size=300, character_coverage=1.0, normalization_rule_name="nmt_nfkc",
            pad_id=0, eos_id=1, bos_id=2, unk_id=3, num_threads=1, minloglevel=2)
    return path


TOKEN_PROMPTS = KNOWN_SAME + CURLY + TAG_PROMPTS + [
    "unseen letters: ǅ ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and ﬁ ligature, fullwidth ＡＢＣ１２３",
    "e\u0301 combining accent vs é",
    " ".join(["dog runs in the park, 東京 😀"] * 200),  # far over 512 tokens
]


def check_encodings(got, sp, texts, max_length=MAX_LENGTH):
    for g, text in zip(got, texts):
        ids, pieces = encode_ref(sp, text, max_length)
        assert g["ids"] == ids, text
        assert g["attention_length"] == len(ids)
        assert g["text_tokens"] == pieces
        assert g["truncated"] == (pieces > max_length - 1)


@pytest.mark.parametrize("source", ["--model", "--model-bytes"])
def test_ids_match_python_sentencepiece(model, source):
    sp = spm.SentencePieceProcessor(model_file=str(model))
    texts = [clean_ref(p) for p in TOKEN_PROMPTS]
    got = cli("encode", texts, "%s=%s" % (source, model))
    check_encodings(got, sp, texts)
    assert got[-1]["truncated"] and len(got[-1]["ids"]) == MAX_LENGTH
    assert cli("encode", [""], "--model=%s" % model)[0]["ids"] == [1]


def test_truncation_at_other_lengths(model):
    sp = spm.SentencePieceProcessor(model_file=str(model))
    texts = [clean_ref(p) for p in TOKEN_PROMPTS]
    for max_length in (2, 3, 16):
        got = cli("encode", texts, "--model=%s" % model, "--max-length=%d" % max_length)
        check_encodings(got, sp, texts, max_length)


@pytest.mark.parametrize("variant", ["720x720_5s", "960x960_10s"])
def test_whole_prompt_path(model, variant):
    sp = spm.SentencePieceProcessor(model_file=str(model))
    got = cli("prompt", TOKEN_PROMPTS, "--model=%s" % model, "--variant=" + variant)
    check_encodings(got, sp, [clean_ref(rewrite_ref(p, variant)) for p in TOKEN_PROMPTS])
    negatives = ["jitter, bad hands, blur, distortion", "robotic, muffled, echo, distorted",
                 " Audio:  not formatted "]
    got = cli("negative", negatives, "--model=%s" % model)
    check_encodings(got, sp, [clean_ref(n) for n in negatives])


def test_hugging_face_call_as_the_original(model):
    """T5TokenizerFast converted from the same spiece.model, called as Wan's HuggingfaceTokenizer
    calls it. Prompts with a character the model lacks are left out: transformers 5 converts any
    spiece.model with T5's layout (<unk>=2) where umt5's is <unk>=3, so those differ here by
    construction; what the real google/umt5-xxl tokenizer.json does with them is a check to run
    on the real file (spec encoders.md §8)."""
    transformers = pytest.importorskip("transformers")
    tok = transformers.T5TokenizerFast.from_pretrained(str(model.parent), extra_ids=0)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    texts = [clean_ref(p) for p in TOKEN_PROMPTS]
    texts = [t for t in texts if sp.unk_id() not in sp.encode(t)]
    assert len(texts) >= 20  # tags, accents, CJK, emoji, empty and the over-long one remain
    enc = tok(texts, padding="max_length", truncation=True, max_length=MAX_LENGTH,
              add_special_tokens=True)
    got = cli("encode", texts, "--model=%s" % model)
    for g, ids, mask, text in zip(got, enc["input_ids"], enc["attention_mask"], texts):
        length = sum(mask)
        assert g["attention_length"] == length, text
        assert g["ids"] == ids[:length], text
        assert ids[length:] == [0] * (MAX_LENGTH - length)
    assert max(sum(m) for m in enc["attention_mask"]) == MAX_LENGTH


def test_bad_model_is_reported(tmp_path):
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a sentencepiece model")
    proc = subprocess.run([str(CLI), "encode", "--model=%s" % bad], input="[]", text=True,
                          capture_output=True, check=False)
    assert proc.returncode == 1
    assert "INVALID_ARGUMENT" in proc.stderr and str(bad) in proc.stderr


# ---- the original's cleaning with ftfy itself --------------------------------------------------
# Wan's HuggingfaceTokenizer(clean='whitespace'): basic_clean (ftfy.fix_text, html.unescape twice,
# strip) then whitespace_clean. ftfy is pinned in scripts/requirements.txt for this comparison only.

def original_clean(text):
    import ftfy
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return regex.sub(r"\s+", " ", text).strip()


# Prompts ftfy leaves alone or changes only as ovid does: the same text.
DOUBLY_ESCAPED = [p for p in KNOWN_SAME if p.startswith("doubly escaped")]
FTFY_SAME_TEXT = [p for p in KNOWN_SAME + CURLY + TAG_PROMPTS if p not in DOUBLY_ESCAPED] + [
    "line\r\nbreak", "A <b>bold</b> &lt;tag&gt;", "\u00a0nbsp\u2003em space", "soft\u00adhyphen",
    "zero\u200bwidth", "emoji \U0001F600 and 東京",
    # the control-character fixes ovid reproduces
    "tab\there\x07bell", "Audio:\u3000\x1cwind", "vertical\vtab", "a\x85b", "\x93hi\x94",
    "\x1b[31mred\x1b[0m", "b\ufeffom", "del\x7f", "c1 \x81 undefined"]
# ftfy normalizes these (NFC, ligatures, fullwidth forms) and ovid does not; the tokenizer's
# nmt_nfkc normalization makes the same change, so the ids agree.
FTFY_SAME_IDS = ["e\u0301 combining accent", "\ufb01 ligature \uff21\uff22\uff23",
                 "A\u0308 decomposed"]
# The differences that remain (README "Prompt text"): ftfy repairs mojibake, and without a '<'
# in the text it unescapes HTML once more (and then straightens the curly quotes it produced).
FTFY_DIFFERENT = {
    "caf\u00c3\u00a9 mojibake": ("caf\u00c3\u00a9 mojibake", "caf\u00e9 mojibake"),
    "&amp;amp;amp; triple": ("&amp; triple", "& triple"),
    "&ldquo;quoted&rdquo;": ("\u201cquoted\u201d", "\"quoted\""),
    **{p: ("doubly escaped: <S>hi<E> and &amp; stays &", "doubly escaped: <S>hi<E> and & stays &")
       for p in DOUBLY_ESCAPED},
}


def test_cleaning_equals_the_ftfy_original_on_ordinary_prompts():
    got = cli("clean", FTFY_SAME_TEXT)
    assert [g["text"] for g in got] == [original_clean(p) for p in FTFY_SAME_TEXT]


def test_what_ftfy_normalizes_gives_the_same_ids(model):
    ours = cli("encode", [g["text"] for g in cli("clean", FTFY_SAME_IDS)], "--model=%s" % model)
    theirs = cli("encode", [original_clean(p) for p in FTFY_SAME_IDS], "--model=%s" % model)
    assert [g["ids"] for g in ours] == [g["ids"] for g in theirs]
    # ...while the texts themselves differ (otherwise this list belongs above).
    cleaned = [g["text"] for g in cli("clean", FTFY_SAME_IDS)]
    assert all(c != original_clean(p) for c, p in zip(cleaned, FTFY_SAME_IDS))


def test_the_documented_differences_from_ftfy_are_exactly_these():
    prompts = list(FTFY_DIFFERENT)
    got = [g["text"] for g in cli("clean", prompts)]
    for prompt, text in zip(prompts, got):
        ours, original = FTFY_DIFFERENT[prompt]
        assert (text, original_clean(prompt)) == (ours, original), prompt
