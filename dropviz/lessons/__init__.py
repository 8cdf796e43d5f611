"""The experiments behind the lesson pages: plain math on the engine, no UI and no plotting."""
