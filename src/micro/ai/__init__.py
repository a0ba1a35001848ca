"""The AI edge: clients of generative APIs (OpenAI images). The core never imports it."""
