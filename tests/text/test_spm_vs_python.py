# File: tests/text/test_spm_vs_python.py
# ovid's own SentencePiece unigram encoder (engine/text/spm_*.cc) against the Python
# `sentencepiece` package, through ovid-text-cli, on models trained here with different
# normalizer and trainer settings, and on models edited through sentencepiece_model_pb2 for the
# settings the trainer does not expose (escape_whitespaces off, UNUSED pieces). Every model
# encodes the same fixed prompts and 2,000 random strings from a mixed alphabet (combining marks,
# control characters, unassigned and private-use code points, NFKC-sensitive characters, spaces
# of all kinds, U+2581 itself); every id must be equal. Broken model files must give a clear
# INVALID_ARGUMENT, never a crash.
import json
import os
import pathlib
import random
import subprocess

import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

ROOT = pathlib.Path(os.environ.get("OVID_ROOT", pathlib.Path(__file__).resolve().parents[2]))
CLI = pathlib.Path(os.environ.get("OVID_BIN", ROOT / "build" / "bin")) / "ovid-text-cli"
FUZZ_COUNT = 2000


def run_cli(args, strings):
    return subprocess.run([str(CLI), *args], input=json.dumps(strings), text=True,
                          capture_output=True, check=False)


def encode(model_path, strings):
    proc = run_cli(["encode", "--model=%s" % model_path, "--max-length=100000"], strings)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out) == len(strings)
    return out


def corpus_lines():
    rng = random.Random(1)
    words = ("a the dog cat runs park street sun rain night music voice hello world quiet camera "
             "people talk café crème brûlée señor naïve Zürich Łódź 東京 夜景 城市 音乐 雨 서울 "
             "😀 🎵 русский Ελληνικά ﬁne ＡＢＣ １２３ ½ ① ㎏ ｶﾞ Å ™ … <S> <E> <AUDCAP>").split()
    syllables = "ka to ri se mu na lo pe chi zu an el or ing ter bra ske".split()
    words += ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(200)]
    for _ in range(1500):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
        if rng.random() < 0.2:
            line = "  " + line.replace(" ", "   ", 2) + "\t"
        yield line


RULES_TSV = "41 42\t43\n41\t61\n43 44 45\t78 79\n"  # AB->C, A->a, CDE->xy: longest match wins

# name -> trainer arguments beyond the common ones
MODELS = {
    "nmt_nfkc": {},
    "nfkc": {"normalization_rule_name": "nfkc"},
    "identity": {"normalization_rule_name": "identity"},
    "nmt_nfkc_cf": {"normalization_rule_name": "nmt_nfkc_cf"},
    "no_dummy_prefix": {"add_dummy_prefix": False},
    "keep_whitespace": {"remove_extra_whitespaces": False},
    "keep_whitespace_identity": {"remove_extra_whitespaces": False, "add_dummy_prefix": False,
                                 "normalization_rule_name": "identity"},
    "user_defined": {"user_defined_symbols": ["<S>", "<E>", "<AUDCAP>", "AUD", "ka", "▁x", "東京の",
                                              "  "]},
    "byte_fallback": {"byte_fallback": True, "vocab_size": 700},
    "whitespace_suffix": {"treat_whitespace_as_suffix": True},
    "rules_tsv": {"normalization_rule_tsv": "RULES"},
}


def train(path, name):
    args = dict(model_type="unigram", vocab_size=260, character_coverage=1.0,
                hard_vocab_limit=False, normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1,
                bos_id=2, unk_id=3, num_threads=1, minloglevel=2)
    args.update(MODELS[name])
    if args.get("normalization_rule_tsv") == "RULES":
        tsv = path.with_suffix(".tsv")
        tsv.write_text(RULES_TSV)
        args["normalization_rule_tsv"] = str(tsv)
        del args["normalization_rule_name"]
    with open(path, "wb") as f:
        spm.SentencePieceTrainer.train(sentence_iterator=corpus_lines(), model_writer=f, **args)


def add_permutation_pieces(m):
    rng = random.Random(9)
    have = {p.piece for p in m.pieces}
    words = [""]
    for _ in range(5):
        words = [w + c for w in words for c in "abc\u2581"]
        for w in words:
            if w not in have:
                p = m.pieces.add()
                p.piece, p.score = w, -rng.uniform(1, 30)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("spm_models")
    paths = {}
    for name in MODELS:
        paths[name] = root / (name + ".model")
        train(paths[name], name)
    # Settings the trainer does not expose, edited into the nmt_nfkc model's proto.
    base = model_pb2.ModelProto()
    base.ParseFromString(paths["nmt_nfkc"].read_bytes())
    edits = {
        "no_escape": lambda m: setattr(m.normalizer_spec, "escape_whitespaces", False),
        "no_escape_no_trim": lambda m: (setattr(m.normalizer_spec, "escape_whitespaces", False),
                                        setattr(m.normalizer_spec, "remove_extra_whitespaces",
                                                False)),
        # Every 7th normal piece UNUSED: in the dictionary, never produced.
        "unused_pieces": lambda m: [setattr(p, "type", p.UNUSED) for i, p in enumerate(m.pieces)
                                    if p.type == p.NORMAL and i % 7 == 0],
        # Ties: every normal piece scores the same, so only the tie-breaking picks the path.
        "equal_scores": lambda m: [setattr(p, "score", -1.0) for p in m.pieces
                                   if p.type == p.NORMAL],
        # Every string of 1..5 letters over a b c ▁ with a random score: a text of those letters
        # has many segmentations whose sums are equal but for float rounding, so this checks that
        # the path sums round (and ties break) as SentencePiece's do.
        "permutations": add_permutation_pieces,
    }
    for name, edit in edits.items():
        m = model_pb2.ModelProto()
        m.CopyFrom(base)
        edit(m)
        paths[name] = root / (name + ".model")
        paths[name].write_bytes(m.SerializeToString())
    return paths


FIXED = [
    "", " ", "   ", "\t\n", "a", " a ", "  a  b  ", "dog  runs\tin\nthe park",
    "<S>Hello there<E> <AUDCAP>rain falls<ENDAUDCAP>", "AUDIO <S><S> x<E>",
    "Café crème brûlée, naïve Zürich Łódź", "東京の夜景 城市 音乐 😀 🎵 서울",
    "ﬁne ＡＢＣ１２３ ½ ① ㎏ ｶﾞ Å ™ … ǅ ℌ", "e\u0301 vs é, \u1100\u1161 vs 가",
    "unseen: ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ⁇ \u2581 \u2581\u2581x", "ABCDE CDE AB A", "\x00a\x00 \x01\x7f\x85",
    "xyzzy qqq jjj ☃☃☃ 🦀🦀 \ue000\U000f0000", "¨ ´ ¸ \u0301 leading combining",
    "kakaka kato 東京の", "</s> <s><pad> <unk>x", "<0x41> <0xC3>", " ".join(["dog runs in the park, 東京 😀"] * 50),
]

ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()<>&/")
    + [" ", " ", " ", "  ", "\t", "\n", "\r", "\u3000", "\u00a0", "\u2002", "\u200b", "\ufeff",
       "\u2028", "\x0b", "\x0c", "\x1c"]
    + ["\u0301", "\u0308", "\u0327", "\u20dd", "\u0345", "\u302a"]  # combining marks
    + ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x80", "\x85", "\x9f", "\u200d", "\u200e"]
    + ["\u0378", "\u0870", "\U0003fffd", "\U000e0fff", "\ufdd0", "\uffff", "\U0010ffff",
       "\ue000", "\U000f0000", "\ufffd"]  # unassigned, noncharacters, private use
    + list("ﬁﬂＡｚ１½①㎏ｶﾞﾟǅℌÅΩ…‥™¨´ˇ﹏㈱ⅷ\u1100\u1161\u11a8\u2126\u212b\u0130ß")
    + list("éèêëçñøłåüöäÉ東京夜景城市音乐雨서울의밤😀🎵🌃👍🏽") + ["👨\u200d👩\u200d👧", "\ufe0f"]
    + ["\u2581", "\u2581\u2581", "⁇"]
    + ["dog", "the ", "park", "ka", "to", "ing", "<S>", "<E>", "<AUDCAP>", "AUD", "AB", "CDE",
       "東京の"]
)


def fuzz_strings(seed, alphabet=ALPHABET):
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
            for _ in range(FUZZ_COUNT)]


NAMES = list(MODELS) + ["no_escape", "no_escape_no_trim", "unused_pieces", "equal_scores",
                        "permutations"]


@pytest.mark.parametrize("name", NAMES)
def test_ids_match_python_sentencepiece(models, name):
    sp = spm.SentencePieceProcessor(model_file=str(models[name]))
    texts = FIXED + fuzz_strings(NAMES.index(name))
    if name == "permutations":
        texts += fuzz_strings(99, list("abc ") + ["aaa", "bbbb", "abab", "\u2581"])
    got = encode(models[name], texts)
    mismatches = []
    for g, text in zip(got, texts):
        want = sp.encode(text) + [sp.eos_id()]
        if g.get("ids") != want:
            mismatches.append((text, g, want, sp.encode(text, out_type=str)))
    assert not mismatches[:5], "%d of %d differ" % (len(mismatches), len(texts))


def test_fuzz_hits_unknowns_and_user_symbols(models):
    """The random strings do reach the cases under test: <unk> runs, byte pieces, user symbols."""
    texts = fuzz_strings(0)
    sp = spm.SentencePieceProcessor(model_file=str(models["nmt_nfkc"]))
    assert sum(sp.unk_id() in sp.encode(t) for t in texts) > 500
    sp = spm.SentencePieceProcessor(model_file=str(models["byte_fallback"]))
    assert sum(any(sp.id_to_piece(i).startswith("<0x") for i in sp.encode(t)) for t in texts) > 500
    sp = spm.SentencePieceProcessor(model_file=str(models["user_defined"]))
    ud = {sp.piece_to_id(s) for s in MODELS["user_defined"]["user_defined_symbols"]}
    assert sum(bool(ud & set(sp.encode(t))) for t in texts) > 200


def load_error(tmp_path, data, name="broken.model"):
    path = tmp_path / name
    path.write_bytes(data)
    proc = run_cli(["encode", "--model=%s" % path], ["dog runs"])
    assert proc.returncode in (0, 1), proc.stderr  # loaded, or refused; never a crash
    if proc.returncode == 1:
        assert "INVALID_ARGUMENT" in proc.stderr and str(path) in proc.stderr, proc.stderr
        return proc.stderr
    return None


def test_truncated_models_are_refused_or_load(models, tmp_path):
    data = models["nmt_nfkc"].read_bytes()
    refused = 0
    for cut in list(range(1, 64)) + list(range(64, len(data), max(1, len(data) // 150))):
        refused += load_error(tmp_path, data[:cut]) is not None
    assert refused > 100


def test_corrupt_bytes_never_crash(models, tmp_path):
    data = bytearray(models["nmt_nfkc"].read_bytes())
    rng = random.Random(3)
    for _ in range(100):
        broken = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            broken[rng.randrange(len(broken))] = rng.randrange(256)
        load_error(tmp_path, bytes(broken))


def edited(models, edit):
    m = model_pb2.ModelProto()
    m.ParseFromString(models["nmt_nfkc"].read_bytes())
    edit(m)
    return m.SerializeToString()


def test_errors_say_what_is_wrong(models, tmp_path):
    def bpe(m):
        m.trainer_spec.model_type = m.trainer_spec.BPE
    assert "not UNIGRAM" in load_error(tmp_path, edited(models, bpe))

    def no_unk(m):
        m.pieces[3].type = m.pieces[3].NORMAL
    assert "UNKNOWN" in load_error(tmp_path, edited(models, no_unk))

    def twice(m):
        m.pieces[10].piece = m.pieces[11].piece
    assert "defined twice" in load_error(tmp_path, edited(models, twice))

    def bad_charsmap(m):
        m.normalizer_spec.precompiled_charsmap = b"\xff\xff\x00\x00abc"
    assert "precompiled_charsmap" in load_error(tmp_path, edited(models, bad_charsmap))

    def charsmap_value_past_end(m):
        blob = m.normalizer_spec.precompiled_charsmap
        size = int.from_bytes(blob[:4], "little")
        m.normalizer_spec.precompiled_charsmap = blob[:4 + size] + b"x"  # strings cut off
    assert "replacement strings" in load_error(tmp_path, edited(models, charsmap_value_past_end))

    stderr = load_error(tmp_path, b"\x0a\xff\xff\xff\x0f")
    assert "malformed SentencePiece ModelProto at byte" in stderr


# ---- vocabulary arrays (a GGUF's tokenizer metadata) ------------------------------------------

# What a GGUF carries: pieces, scores, types, add_space_prefix, remove_extra_whitespaces and maybe
# the charsmap; not treat_whitespace_as_suffix or escape_whitespaces, so those models are left out.
VOCAB_NAMES = [n for n in NAMES if n not in ("whitespace_suffix", "no_escape", "no_escape_no_trim")]


def encode_vocab(model_path, strings, *flags):
    proc = run_cli(["encode", "--vocab-from=%s" % model_path, "--max-length=100000", *flags],
                   strings)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def differing(got, sp, texts):
    return [t for g, t in zip(got, texts) if g.get("ids") != sp.encode(t) + [sp.eos_id()]]


@pytest.mark.parametrize("name", VOCAB_NAMES)
def test_vocabulary_arrays_with_charsmap_match(models, name):
    sp = spm.SentencePieceProcessor(model_file=str(models[name]))
    texts = FIXED + fuzz_strings(100 + NAMES.index(name))
    assert not differing(encode_vocab(models[name], texts), sp, texts)[:5]


def test_vocabulary_arrays_without_charsmap_are_identity(models, tmp_path):
    """Without tokenizer.ggml.precompiled_charsmap ovid normalizes as SentencePiece's identity
    normalizer (whitespace rules only): equal to the same model with its charsmap removed."""
    m = model_pb2.ModelProto()
    m.ParseFromString(models["nmt_nfkc"].read_bytes())
    m.normalizer_spec.precompiled_charsmap = b""
    m.normalizer_spec.name = "identity"
    identity = tmp_path / "identity.model"
    identity.write_bytes(m.SerializeToString())
    sp_identity = spm.SentencePieceProcessor(model_file=str(identity))
    sp_nfkc = spm.SentencePieceProcessor(model_file=str(models["nmt_nfkc"]))
    texts = FIXED + fuzz_strings(7)
    got = encode_vocab(models["nmt_nfkc"], texts, "--charsmap=drop")
    assert not differing(got, sp_identity, texts)[:5]
    # How far that is from nmt_nfkc: ordinary prompts agree, NFKC-sensitive text does not.
    ordinary = ["A dog runs across the park while the sun sets.", "Café crème brûlée, señor",
                "<S>Hello there<E> <AUDCAP>rain falls<ENDAUDCAP>", "東京の夜景 城市 音乐 😀 🎵"]
    assert not differing(encode_vocab(models["nmt_nfkc"], ordinary, "--charsmap=drop"), sp_nfkc,
                         ordinary)
    nfkc_only = ["ﬁne", "ＡＢＣ１２３", "½", "e\u0301", "a\u00a0b", "x\u200by"]
    assert len(differing(encode_vocab(models["nmt_nfkc"], nfkc_only, "--charsmap=drop"), sp_nfkc,
                         nfkc_only)) == len(nfkc_only)
    rate = len(differing(got, sp_nfkc, texts)) / len(texts)
    print("random strings differing from nmt_nfkc without the charsmap: %.1f%%" % (100 * rate))
