"""The tokenizer class of an exported folder whose tokenizer is a SentencePiece model
(`oryx export --hf`): transformers' SentencePieceBackend, whose ids are the sentencepiece
library's (the ones oryx uses), with decoding through the library as well. The backend's own
decoding joins the pieces as text, which leaves byte-fallback pieces as "<0x0A>" instead of the
bytes they stand for and strips a leading space."""
from transformers.tokenization_utils_sentencepiece import SentencePieceBackend


class OryxSentencePieceTokenizer(SentencePieceBackend):
    def convert_tokens_to_string(self, tokens):
        return self.sp_model.decode_pieces(tokens)
