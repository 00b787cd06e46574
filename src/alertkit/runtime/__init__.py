"""The anyio runtime: a thin driver of the pure core."""
