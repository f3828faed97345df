"""Evaluation of what the platform produces: rewrite tables offline against gold, and A/B replays."""
