"""What each retention action does, learned from a campaign log, and off-line policy evaluation."""
