"""Tokenizers built on the spot, for presets that have no downloadable tokenizer.

A byte-level vocabulary needs no training: every UTF-8 string tokenizes, and special tokens sit at
exactly the ids the model config expects (an image placeholder must match ``image_token_id``).
"""

from __future__ import annotations

from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

N_BYTES = 256


def local_tokenizer(vocab_size: int, special_tokens: dict[str, int], **roles: str) -> Any:
    """A fast tokenizer of ``vocab_size`` ids: ``special_tokens`` at their ids, bytes in the rest.

    ``roles`` name the special tokens' roles, e.g. ``bos_token="<bos>"``, ``pad_token="<pad>"``.
    """
    from transformers import PreTrainedTokenizerFast

    reserved = {i for i in special_tokens.values() if i < vocab_size}
    if vocab_size - len(reserved) < N_BYTES:
        raise ValueError(f"vocab_size {vocab_size} leaves fewer than {N_BYTES} ids for bytes")
    free = (i for i in range(vocab_size) if i not in reserved)
    vocab = {symbol: next(free) for symbol in sorted(pre_tokenizers.ByteLevel.alphabet())}  # same ids every build
    vocab.update(special_tokens)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(list(special_tokens))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **roles)
