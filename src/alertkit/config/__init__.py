"""Rule files: dicts, TOML and YAML with one schema and precise, line-numbered errors."""
