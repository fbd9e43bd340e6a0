"""OryxConfig: the keys of an oryx config.json (docs/checkpoint-format.md), as a Hugging Face
PretrainedConfig, plus `schedule`: the default mode schedule of forward and generate."""
from transformers import PretrainedConfig


class OryxConfig(PretrainedConfig):
    model_type = "oryx"

    def __init__(self, kind="oryx", linear="gdn", vocab_size=32000, d_model=1024, n_layers=20, n_heads=8,
                 head_dim_k=128, head_dim_v=128, mlp_hidden=2816, conv_kernel=4, rope=True, rope_theta=10000.0,
                 qk_norm=True, share_q=False, separate_out_norm=False, tie_embeddings=False, kv_conv_silu=None,
                 k_l2norm=None, chunk_size=64, max_seq_len=2048, norm_eps=1e-6, init_std=0.02, schedule=None,
                 tokenizer_vocab=None, name="", **kwargs):
        if kind not in ("oryx", "transformer", "linear"):
            raise ValueError(f"kind must be oryx, transformer or linear, got '{kind}'")
        if kind == "transformer":
            linear = "none"
        gdn_like = linear != "mamba2"
        self.kind, self.linear, self.name = kind, linear, name
        self.vocab_size, self.d_model, self.n_layers, self.n_heads = vocab_size, d_model, n_layers, n_heads
        self.head_dim_k, self.head_dim_v, self.mlp_hidden = head_dim_k, head_dim_v, mlp_hidden
        self.conv_kernel, self.rope, self.rope_theta, self.qk_norm = conv_kernel, rope, rope_theta, qk_norm
        self.share_q, self.separate_out_norm = share_q, separate_out_norm
        self.kv_conv_silu = gdn_like if kv_conv_silu is None else kv_conv_silu
        self.k_l2norm = gdn_like if k_l2norm is None else k_l2norm
        self.chunk_size, self.max_seq_len, self.norm_eps, self.init_std = chunk_size, max_seq_len, norm_eps, init_std
        # The schedule forward and generate use when none is given: a transformer's tokens are
        # all in mode A, a linear model's all in mode L; an Oryx model's default is all-A.
        self.schedule = schedule or ("all-L" if kind == "linear" else "all-A")
        # The tokenizer's ids ([0, tokenizer_vocab)) when vocab_size is larger: generate()
        # chooses among them only, as `oryx generate` does (set by `oryx export`).
        self.tokenizer_vocab = tokenizer_vocab
        kwargs.setdefault("tie_word_embeddings", tie_embeddings)
        super().__init__(**kwargs)
        self.tie_embeddings = tie_embeddings
        # transformers' names for the sizes it reads (generation, lm-evaluation-harness).
        self.hidden_size, self.num_hidden_layers = d_model, n_layers
        self.num_attention_heads, self.max_position_embeddings = n_heads, max_seq_len

    @property
    def has_attention(self) -> bool:
        return self.kind != "linear"

    @property
    def has_linear(self) -> bool:
        return self.kind != "transformer"
