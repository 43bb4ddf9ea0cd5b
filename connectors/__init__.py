"""Sources → Kafka: each connector publishes RawPost JSON to lingting.posts.raw."""
