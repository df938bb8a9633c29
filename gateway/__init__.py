"""The API gateway's side of cablewatch: the authenticated HTTP API that serves the failover
recommendations, and the signed webhooks that push every change."""
