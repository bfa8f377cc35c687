"""Markdown and tables for cards and Prefect artifacts."""


def shortened(text: str, length: int = 80) -> str:
    """``text`` cut to ``length`` characters with an ellipsis: a table's text column that leaves room for the rest."""
    return text if len(text) <= length else text[: length - 1] + "…"


def table(header: list[str], rows: list[list]) -> list[str]:
    """A markdown table's lines; floats at four decimals."""

    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
