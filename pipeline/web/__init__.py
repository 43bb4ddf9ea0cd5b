"""聆听指挥中心: the command center served by ``lingting web`` (pages in app.py, Elasticsearch in queries.py)."""
