"""Access control: API keys and who they speak for, usage plans, rate limits and quotas."""
