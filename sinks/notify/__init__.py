"""Alert channels (webhook, DingTalk, WeCom, Feishu, Slack, email), routing and delivery."""
