"""Summarization on CNN/DailyMail (GPT-J 6B: gptj-99, gptj-99.9)."""
