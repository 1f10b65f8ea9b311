"""What a model call used: tokens, time, and cost from a price table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# US dollars per million tokens: (input, output). The local model costs nothing.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "SmolLM2-135M-Instruct": (0.0, 0.0),
}


class Usage(BaseModel):
    """One call's usage, as the graphs write it into ontology events.

    Attributes:
        cost_usd: from the price table; None for a model it does not list.
        estimated: the provider reported no token counts, so they were counted here.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    first_token_s: float | None = None
    cost_usd: float | None = None
    attempts: int = 1
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    prices: dict[str, tuple[float, float]] = PRICES,
) -> float | None:
    """Dollars for the tokens, or None when the model has no price."""
    price = prices.get(model)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
