"""What is sent: the Cloud's events and payloads, bad input, and the URL rules of its dashboard."""
