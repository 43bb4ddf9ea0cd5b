"""Pure text and detection logic: no Kafka, no Elasticsearch, no asyncio. Safe to import anywhere."""
