"""A tiny random-weight chat model for llama.cpp, written with the `gguf` package.

The weights are noise, but the tokenizer (Qwen2's, from a vocabulary file llama.cpp ships) and the chat template
(Qwen2.5-Instruct's, which llama.cpp's `--jinja` mode reads tool calls from) are real, so the server tokenizes,
templates, constrains output with grammars and counts tokens exactly as it does for a real model. Output constrained
by a JSON schema or a forced tool call is valid whatever the weights; free text is noise.

One thing is shaped rather than random: every token's embedding carries a constant in its first dimension, and the
(untied) output layer reads that dimension as a strong "not whitespace" for tokens of blanks only and a strong "end
of turn" for the end token. Grammars allow blanks between JSON tokens, and random weights that liked a newline would
otherwise fill max_tokens with them before ever closing a tool call or an object; wherever a grammar allows the
answer to end, it ends, as a trained model's would. Free text therefore ends at once, unless the request keeps the
end token out with `logit_bias`.
"""

from pathlib import Path

import gguf
import numpy as np

EMBEDDING = 64
LAYERS = 2
HEADS = 4
FEED_FORWARD = 128
CONTEXT = 4096
END_OF_TURN = "<|im_end|>"


def _string(field):
    return bytes(field.parts[field.data[0]]).decode()


BLANK = set("ĠĊĉčċČ")  # byte-level BPE's space, newline, tab, CR, VT, FF


def write_tiny_model(path: Path, vocabulary: Path, chat_template: str, seed: int = 7) -> Path:
    """Write the model to `path` (once: an existing file is kept) and return it."""
    if path.exists():
        return path
    vocab = gguf.GGUFReader(str(vocabulary))
    fields = vocab.fields
    tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in fields["tokenizer.ggml.tokens"].data]
    token_types = [
        int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data
    ]
    merges = [bytes(fields["tokenizer.ggml.merges"].parts[i]).decode() for i in fields["tokenizer.ggml.merges"].data]

    partial = path.with_suffix(".partial")
    writer = gguf.GGUFWriter(str(partial), arch="llama")
    writer.add_name("tiny random llama for tests")
    writer.add_block_count(LAYERS)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBEDDING)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model(_string(fields["tokenizer.ggml.model"]))
    writer.add_tokenizer_pre(_string(fields["tokenizer.ggml.pre"]))
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(merges)
    end = tokens.index(END_OF_TURN)
    writer.add_bos_token_id(int(fields["tokenizer.ggml.bos_token_id"].parts[-1][0]))
    writer.add_eos_token_id(end)
    writer.add_pad_token_id(end)
    writer.add_add_bos_token(False)
    writer.add_chat_template(chat_template)

    rng = np.random.default_rng(seed)

    def noise(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    # numpy shapes are GGUF's dimensions reversed: llama.cpp's {n_embd, n_vocab} is (n_vocab, n_embd) here.
    embeddings = noise(len(tokens), EMBEDDING)
    embeddings[:, 0] = 1.0
    output = noise(len(tokens), EMBEDDING)
    output[[i for i, token in enumerate(tokens) if set(token) <= BLANK], 0] = -1.0
    output[tokens.index(END_OF_TURN), 0] = 1.0
    writer.add_tensor("token_embd.weight", embeddings)
    writer.add_tensor("output.weight", output)
    writer.add_tensor("output_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
    for layer in range(LAYERS):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{block}.{name}.weight", noise(EMBEDDING, EMBEDDING))
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", noise(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"{block}.ffn_up.weight", noise(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"{block}.ffn_down.weight", noise(EMBEDDING, FEED_FORWARD))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.rename(path)
    return path
