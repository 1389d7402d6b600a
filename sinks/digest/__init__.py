"""The digest's drawing (text, HTML, Slack) and delivery (webhooks, email); gathered by flows/digest.py."""
