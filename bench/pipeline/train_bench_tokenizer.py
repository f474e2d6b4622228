"""A SentencePiece unigram model for bench/pipeline-bench.sh, set up like umt5's spiece.model
(<pad>=0, </s>=1, <s>=2, <unk>=3, nmt_nfkc) but trained on generated English-like text, so no
download is needed. usage: train_bench_tokenizer.py OUT.model"""
import random
import sys

import sentencepiece as spm

rng = random.Random(0)
WORDS = ("a the woman man red coat walks through rainy city street at night neon signs reflect "
         "in puddles she he turns to camera and says it never stops raining here rain on "
         "pavement distant traffic calm voice music plays softly birds sing wind blows dog "
         "barks car passes people talk laugh").split()
lines = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))) for _ in range(20000))
with open(sys.argv[1], "wb") as f:
    spm.SentencePieceTrainer.train(
        sentence_iterator=lines, model_writer=f, model_type="unigram", vocab_size=400,
        hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name="nmt_nfkc",
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, user_defined_symbols=["<S>", "<E>", "<AUDCAP>",
                                                                     "<ENDAUDCAP>"],
        num_threads=1, minloglevel=2)
