"""Route-failover recommendations: which cable each region should use, and why (pure)."""
