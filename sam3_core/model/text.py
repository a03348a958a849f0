"""Text prompts through the detector's text encoder: token counts, and projected text features cached per prompt."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import Sam3Model, Sam3Processor

from sam3_core.model.cache import ByteLRUCache
from sam3_core.model.transformers_internals import text_features, text_token_limit

# The prompt length the detector is fed (padded to it); the text encoder's own limit when that is shorter.
TEXT_TOKENS = 32


class TextEncoder:
    """Prompts to the detector's text features, each prompt's kept in ``cache`` (``(L, D)`` features and ``(L,)``
    attention mask, ``L`` = ``max_tokens``)."""

    def __init__(self, detector: Sam3Model, processor: Sam3Processor, cache: ByteLRUCache) -> None:
        self.detector = detector
        self.tokenizer = processor.tokenizer
        self.cache: ByteLRUCache[tuple[torch.Tensor, torch.Tensor]] = cache
        self.device = next(detector.parameters()).device
        self.max_tokens = min(TEXT_TOKENS, text_token_limit(detector))

    def token_counts(self, prompts: Sequence[str]) -> list[int]:
        """Tokens of each prompt as the text encoder reads them (it reads at most ``max_tokens``)."""
        return [len(self.tokenizer(prompt)["input_ids"]) for prompt in prompts]

    def embeddings(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n, L, D)`` projected text features and their ``(n, L)`` attention mask, cached per prompt."""
        found = {prompt: self.cache.get(prompt) for prompt in dict.fromkeys(prompts)}
        missing = [prompt for prompt, value in found.items() if value is None]
        if missing:
            tokens = self.tokenizer(missing, padding="max_length", max_length=self.max_tokens, return_tensors="pt").to(
                self.device
            )
            pooled = text_features(self.detector, tokens)
            for index, prompt in enumerate(missing):
                # Copies: a row of the batch would keep the whole batch alive in the cache.
                found[prompt] = (pooled[index].clone(), tokens["attention_mask"][index].clone())
                self.cache.put(prompt, found[prompt])
        features = torch.stack([found[prompt][0] for prompt in prompts])
        masks = torch.stack([found[prompt][1] for prompt in prompts])
        return features, masks
