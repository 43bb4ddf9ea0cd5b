"""Where the pipeline's output goes: Elasticsearch and alert channels."""
