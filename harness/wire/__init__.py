"""The wire: requests as the Cloud's HTTP client sends them, and what comes back."""
