"""Sources → Kafka: each connector publishes RawPost JSON to lingting.posts.raw.

A connector is one module with a :class:`~connectors.source.Source` (or a server) and a ``command`` function:
its parameters are the connector's own CLI options, it returns a :class:`~connectors.source.Launch`.
``lingting connect NAME`` is built from this registry; a module is imported only when its command is used,
so ``lingting --help`` stays instant. Adding a connector = its module, its test module and one line here.
"""

from __future__ import annotations

REGISTRY: dict[str, str] = {
    "file": "connectors.file",
    "http": "connectors.http_push",
    "rss": "connectors.rss",
    "synthetic": "connectors.synthetic",
    "weibo": "connectors.weibo",
}
