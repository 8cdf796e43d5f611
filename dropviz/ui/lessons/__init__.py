"""One module per lesson page; each has `render()` and its text in dropviz/locales/<lang>/<name>.toml."""
