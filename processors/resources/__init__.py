"""Shipped NLP resources (package data): slang dictionary, stop words, IDF table, sentiment model."""
